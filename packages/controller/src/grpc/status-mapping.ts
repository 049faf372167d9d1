import { status, type ServiceError, Metadata } from '@grpc/grpc-js';
import { isProtocolError } from '@faultline/protocol';
import { isNoTargetsError, isSpecError } from '@faultline/spec';
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
      case ControllerErrorCode.Unauthenticated:
        code = status.UNAUTHENTICATED;
        break;
      case ControllerErrorCode.PermissionDenied:
        code = status.PERMISSION_DENIED;
        break;
      case ControllerErrorCode.InvalidArgument:
      case ControllerErrorCode.InvalidOptions:
        code = status.INVALID_ARGUMENT;
        break;
      default:
        code = status.INTERNAL;
    }
  } else if (isNoTargetsError(err)) {
    code = status.FAILED_PRECONDITION;
  } else if (isSpecError(err)) {
    // A spec that does not parse or validate names the path: it is the caller's to fix.
    code = status.INVALID_ARGUMENT;
  } else if (isProtocolError(err)) {
    code = status.INVALID_ARGUMENT;
  }
  return { code, details: message, message, metadata: new Metadata() };
}
