export * from './types';
export { Api, ApiError, localTokenStore } from './rest';
export { Session, CommandError, TimeoutError, ClosedError, WrongAckError, type ConnectionState } from './session';
export { Outbox, newClientMsgId, type OutboxItem, type OutboxAttachment } from './outbox';
export { Upload, type UploadState } from './upload';
export { ResumeState } from './resume';
export * as limits from './limits';
