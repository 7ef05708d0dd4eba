/**
 * Finds the external-data references of an ONNX model (TensorProto
 * external_data "location" entries, in the main graph, its sparse
 * initializers, node attributes and nested subgraphs) by walking the protobuf
 * wire format directly, so a package can be refused before ONNX Runtime opens
 * a file outside its folder.
 */

type Field = { no: number; wire: number; start: number; end: number; value: number };

function* fields(buf: Uint8Array, start: number, end: number): Generator<Field> {
  let pos = start;
  const varint = (): number => {
    let result = 0;
    let mul = 1;
    for (;;) {
      if (pos >= end) throw new Error('truncated varint');
      const b = buf[pos++]!;
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return result;
      mul *= 128;
      if (mul > 2 ** 63) throw new Error('varint too long');
    }
  };
  while (pos < end) {
    const key = varint();
    const no = Math.floor(key / 8);
    const wire = key & 7;
    switch (wire) {
      case 0: {
        const value = varint();
        yield { no, wire, start: pos, end: pos, value };
        break;
      }
      case 1:
        pos += 8;
        break;
      case 5:
        pos += 4;
        break;
      case 2: {
        const len = varint();
        if (pos + len > end) throw new Error('length-delimited field runs past its message');
        yield { no, wire, start: pos, end: pos + len, value: len };
        pos += len;
        break;
      }
      default:
        throw new Error(`unsupported wire type ${wire}`);
    }
  }
}

const text = (buf: Uint8Array, f: Field) => Buffer.from(buf.buffer, buf.byteOffset + f.start, f.end - f.start).toString('utf8');

function tensorLocations(buf: Uint8Array, start: number, end: number, out: string[]): void {
  // TensorProto: external_data = 13 (StringStringEntryProto key=1, value=2), data_location = 14.
  for (const f of fields(buf, start, end)) {
    if (f.no !== 13 || f.wire !== 2) continue;
    let key = '';
    let value = '';
    for (const kv of fields(buf, f.start, f.end)) {
      if (kv.wire !== 2) continue;
      if (kv.no === 1) key = text(buf, kv);
      else if (kv.no === 2) value = text(buf, kv);
    }
    if (key === 'location') out.push(value);
  }
}

function attributeLocations(buf: Uint8Array, start: number, end: number, out: string[]): void {
  // AttributeProto: t = 5 (TensorProto), g = 6 (GraphProto), tensors = 10, graphs = 11, sparse_tensor = 22, sparse_tensors = 23.
  for (const f of fields(buf, start, end)) {
    if (f.wire !== 2) continue;
    if (f.no === 5 || f.no === 10) tensorLocations(buf, f.start, f.end, out);
    else if (f.no === 6 || f.no === 11) graphLocations(buf, f.start, f.end, out);
    else if (f.no === 22 || f.no === 23) sparseLocations(buf, f.start, f.end, out);
  }
}

function sparseLocations(buf: Uint8Array, start: number, end: number, out: string[]): void {
  // SparseTensorProto: values = 1, indices = 2 (both TensorProto).
  for (const f of fields(buf, start, end)) if (f.wire === 2 && (f.no === 1 || f.no === 2)) tensorLocations(buf, f.start, f.end, out);
}

function graphLocations(buf: Uint8Array, start: number, end: number, out: string[]): void {
  // GraphProto: node = 1, initializer = 5, sparse_initializer = 15.
  for (const f of fields(buf, start, end)) {
    if (f.wire !== 2) continue;
    if (f.no === 5) tensorLocations(buf, f.start, f.end, out);
    else if (f.no === 15) sparseLocations(buf, f.start, f.end, out);
    else if (f.no === 1) {
      // NodeProto: attribute = 5.
      for (const a of fields(buf, f.start, f.end)) if (a.no === 5 && a.wire === 2) attributeLocations(buf, a.start, a.end, out);
    }
  }
}

/** Every external-data location the model references (may be empty). Throws on malformed protobuf. */
export function externalDataLocations(model: Uint8Array): string[] {
  const out: string[] = [];
  // ModelProto: graph = 7; functions = 25 (FunctionProto node = 7).
  for (const f of fields(model, 0, model.length)) {
    if (f.wire !== 2) continue;
    if (f.no === 7) graphLocations(model, f.start, f.end, out);
  }
  return out;
}
