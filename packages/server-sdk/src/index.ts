export {
  sign,
  stringToSign,
  uidPattern,
  type Credential,
  type CredentialInput,
  type SignOptions,
} from './sign.js';
export {
  signCallback,
  verifyCallback,
  CallbackVerificationError,
  type VerifyCallbackOptions,
} from './webhooks.js';
