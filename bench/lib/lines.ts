// Newline-delimited text from a byte stream (worker JSON messages, stderr logs).

/** The lines of a stream as they complete, without their LF; then a last unterminated line, if any. */
export async function* lines(stream: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const dec = new TextDecoder();
  let buf = '';
  for await (const chunk of stream) {
    buf += dec.decode(chunk, { stream: true });
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      yield buf.slice(0, i);
      buf = buf.slice(i + 1);
    }
  }
  if (buf) yield buf;
}
