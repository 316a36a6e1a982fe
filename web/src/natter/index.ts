export * from './types';
export { Api, ApiError, localTokenStore } from './rest';
export { Session, CommandError, TimeoutError, ClosedError, WrongAckError, type ConnectionState } from './session';
export { Outbox, newClientMsgId, type OutboxItem } from './outbox';
export { ResumeState } from './resume';
export * as limits from './limits';
