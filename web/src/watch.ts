// The order watch stream as server-sent events, read with fetch: EventSource
// cannot send the bearer token. The path and the event's type come from the
// generated schema; only the SSE framing (data:/event: lines, blank line) is here.
import { api, type Schemas } from "./api/client";
import { ApiError, unwrap } from "./api/errors";

type Update = Schemas["shop.orders.v1.WatchOrderResponse"];

/** live: streaming; final: the server ended the stream, the order will not change again. */
export type WatchState = "live" | "reconnecting" | "final" | "stopped";

export interface WatchEvents {
  onOrder: (order: NonNullable<Update["order"]>) => void;
  onState: (state: WatchState) => void;
}

// A task of its own, after the page rendered the update before it: a status
// that lasted a millisecond (Paid, just before Fulfilled) is still shown, and
// announced, rather than overwritten within one render. A message port, not a
// timer, so a hidden tab is not held back by timer throttling.
function nextTask(): Promise<void> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(null);
  });
}

async function readEvents(
  stream: ReadableStream<Uint8Array>,
  handle: (event: string, data: string) => void,
) {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let handled = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
    let end = buffer.indexOf("\n\n");
    while (end >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data: string[] = [];
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue; // a heartbeat comment
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") event = text;
        else if (field === "data") data.push(text);
      }
      if (data.length) {
        if (handled++) await nextTask();
        handle(event, data.join("\n"));
      }
      end = buffer.indexOf("\n\n");
    }
  }
}

/** Follows an order until it is final or `signal` aborts; reconnects (with backoff) after a failure. */
export async function watchOrder(
  id: string,
  events: WatchEvents,
  signal: AbortSignal,
): Promise<void> {
  let delay = 500;
  while (!signal.aborted) {
    try {
      const stream = await unwrap(
        api.GET("/v1/orders/{name}:watch", {
          params: { path: { name: id } },
          headers: { Accept: "text/event-stream" },
          parseAs: "stream",
          signal,
        }),
      );
      if (!stream) throw new ApiError(0, undefined, "no stream");
      events.onState("live");
      delay = 500;
      await readEvents(stream, (event, data) => {
        if (event === "error") throw new ApiError(0, JSON.parse(data), "watch failed");
        const update = JSON.parse(data) as Update;
        if (update.order) events.onOrder(update.order);
      });
      // The server ends a watch only when the order has reached a final status.
      events.onState("final");
      return;
    } catch (e) {
      if (signal.aborted) return;
      if (e instanceof ApiError && !e.retryable) {
        events.onState("stopped");
        return;
      }
    }
    if (signal.aborted) return;
    events.onState("reconnecting");
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 15000);
  }
}
