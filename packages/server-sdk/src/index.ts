export { sign, stringToSign, uidPattern, type Credential, type CredentialInput } from './sign.js';
export {
  signCallback,
  verifyCallback,
  CallbackVerificationError,
  type VerifyCallbackOptions,
} from './webhooks.js';
