import { status, type ServiceError, Metadata } from '@grpc/grpc-js';
import { isProtocolError } from '@faultline/protocol';
import { ControllerErrorCode, isControllerError } from '../errors.js';

/** Translates an error into a gRPC status once, at the service boundary. */
export function toServiceError(err: unknown): Partial<ServiceError> {
  const message = err instanceof Error ? err.message : String(err);
  let code = status.INTERNAL;
  if (isControllerError(err)) {
    switch (err.code) {
      case ControllerErrorCode.NotFound:
        code = status.NOT_FOUND;
        break;
      case ControllerErrorCode.NoTargets:
        code = status.FAILED_PRECONDITION;
        break;
      case ControllerErrorCode.InvalidArgument:
      case ControllerErrorCode.InvalidOptions:
        code = status.INVALID_ARGUMENT;
        break;
      default:
        // Spec validation errors carry the path: they are the caller's to fix.
        code = err.name.includes('Spec') ? status.INVALID_ARGUMENT : status.INTERNAL;
    }
  } else if (isProtocolError(err)) {
    code = status.INVALID_ARGUMENT;
  }
  return { code, details: message, message, metadata: new Metadata() };
}
