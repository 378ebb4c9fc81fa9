export { sign, stringToSign, uidPattern, type Credential, type CredentialInput } from './sign.js';
