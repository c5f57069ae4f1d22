import { Metadata, ResponderBuilder, ServerInterceptingCall, ServerListenerBuilder, type ServerInterceptor, type status } from '@grpc/grpc-js';

/** Why a call is not handed to its handler: the status it is answered with instead. */
export type CallRefusal = { readonly code: status; readonly details: string };

/**
 * A server interceptor that holds each call of a method `applies` to at its metadata until `check`
 * has looked at it: passed on when it finds nothing wrong, answered with the refusal otherwise (the
 * handler never runs). Other calls pass untouched.
 */
export function metadataGate(applies: (path: string) => boolean, check: (metadata: Metadata, path: string) => CallRefusal | undefined | Promise<CallRefusal | undefined>): ServerInterceptor {
  return (method, call) => {
    if (!applies(method.path)) return new ServerInterceptingCall(call);
    const intercepting: ServerInterceptingCall = new ServerInterceptingCall(
      call,
      new ResponderBuilder()
        .withStart((next) =>
          next(
            new ServerListenerBuilder()
              .withOnReceiveMetadata((metadata: Metadata, pass) => {
                const judge = (refused: CallRefusal | undefined) => (refused ? intercepting.sendStatus({ ...refused, metadata: new Metadata() }) : pass(metadata));
                const verdict = check(metadata, method.path);
                // Most calls are judged at once: they go on without waiting a turn.
                if (verdict instanceof Promise) void verdict.then(judge);
                else judge(verdict);
              })
              .build(),
          ),
        )
        .build(),
    );
    return intercepting;
  };
}
