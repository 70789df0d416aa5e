/**
 * Payload codecs: how a command's body bytes become a value. Selected per command (in its
 * declaration) or per node. An empty body always means `undefined`, so "no payload" costs
 * zero bytes in every codec.
 */
import { Packr } from "msgpackr";

export type CodecName = "raw" | "json" | "msgpack";
export const CODEC_NAMES: readonly CodecName[] = ["raw", "json", "msgpack"];

export interface PayloadCodec {
  readonly name: CodecName;
  encode(value: unknown): Uint8Array;
  /** Throws on malformed input; callers turn that into a BadPayload error. */
  decode(body: Uint8Array): unknown;
}

const EMPTY = new Uint8Array(0);

/** Raw bytes, no conversion: the handler gets (and returns) a Uint8Array, or undefined for an empty body. */
export const rawCodec: PayloadCodec = {
  name: "raw",
  encode(value) {
    if (value === undefined || value === null) return EMPTY;
    if (value instanceof Uint8Array) return value;
    throw new TypeError("the raw codec carries Uint8Array values only");
  },
  // Empty means undefined here too, as in every codec (and as encode(undefined) produces).
  decode: (body) => (body.length === 0 ? undefined : body),
};

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder("utf-8", { fatal: true });

/** UTF-8 JSON. */
export const jsonCodec: PayloadCodec = {
  name: "json",
  encode(value) {
    if (value === undefined) return EMPTY;
    return textEncoder.encode(JSON.stringify(value));
  },
  decode(body) {
    if (body.length === 0) return undefined;
    return JSON.parse(textDecoder.decode(body)) as unknown;
  },
};

/**
 * MessagePack (msgpackr, standard msgpack without records so any client library can read it).
 * The Packr is stateless in this mode, so one instance serves every connection.
 */
const packr = new Packr({ useRecords: false, mapsAsObjects: true });
export const msgpackCodec: PayloadCodec = {
  name: "msgpack",
  encode(value) {
    if (value === undefined) return EMPTY;
    return packr.pack(value);
  },
  decode(body) {
    if (body.length === 0) return undefined;
    return packr.unpack(body) as unknown;
  },
};

const CODECS: Readonly<Record<CodecName, PayloadCodec>> = { raw: rawCodec, json: jsonCodec, msgpack: msgpackCodec };

export function codecByName(name: CodecName): PayloadCodec {
  return CODECS[name];
}
