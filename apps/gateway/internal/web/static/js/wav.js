// WAV (RIFF) reading for the player: a PCM file can be played from any byte
// range, so the player streams and seeks it in chunks (HTTP Range through
// the gateway) instead of decoding the whole file first.

// parseWav reads a WAV header from the first bytes of a file; null when the
// bytes are not a WAV file it can play (PCM 8/16/24/32-bit or 32-bit float).
export function parseWav(buf, totalBytes) {
  const v = new DataView(buf);
  const tag = (o) => String.fromCharCode(v.getUint8(o), v.getUint8(o + 1), v.getUint8(o + 2), v.getUint8(o + 3));
  if (buf.byteLength < 12 || tag(0) !== 'RIFF' || tag(8) !== 'WAVE') return null;
  let off = 12, fmt = null;
  while (off + 8 <= buf.byteLength) {
    const id = tag(off), size = v.getUint32(off + 4, true), body = off + 8;
    if (id === 'fmt ' && body + 16 <= buf.byteLength) {
      let format = v.getUint16(body, true);
      const channels = v.getUint16(body + 2, true);
      const sampleRate = v.getUint32(body + 4, true);
      const blockAlign = v.getUint16(body + 12, true);
      const bits = v.getUint16(body + 14, true);
      if (format === 0xfffe && size >= 40 && body + 26 <= buf.byteLength) format = v.getUint16(body + 24, true);
      fmt = { format, channels, sampleRate, blockAlign, bits };
    } else if (id === 'data') {
      if (!fmt) return null;
      const ok = (fmt.format === 1 && [8, 16, 24, 32].includes(fmt.bits)) || (fmt.format === 3 && fmt.bits === 32);
      if (!ok || !fmt.channels || !fmt.sampleRate || !fmt.blockAlign) return null;
      let dataBytes = size;
      const rest = (totalBytes || buf.byteLength) - body;
      if (!dataBytes || dataBytes === 0xffffffff || dataBytes > rest) dataBytes = rest;
      dataBytes -= dataBytes % fmt.blockAlign;
      return { ...fmt, dataOffset: body, dataBytes, frames: dataBytes / fmt.blockAlign, duration: dataBytes / fmt.blockAlign / fmt.sampleRate };
    }
    off = body + size + (size & 1);
  }
  return null;
}

// toChannels turns whole frames of PCM bytes into one Float32Array per
// channel, in [-1, 1].
export function toChannels(buf, info) {
  const v = new DataView(buf);
  const frames = Math.floor(buf.byteLength / info.blockAlign);
  const bytes = info.bits / 8;
  const out = [];
  for (let c = 0; c < info.channels; c++) out.push(new Float32Array(frames));
  for (let f = 0; f < frames; f++) {
    const base = f * info.blockAlign;
    for (let c = 0; c < info.channels; c++) {
      const o = base + c * bytes;
      let x;
      if (info.format === 3) x = v.getFloat32(o, true);
      else if (info.bits === 16) x = v.getInt16(o, true) / 32768;
      else if (info.bits === 8) x = (v.getUint8(o) - 128) / 128;
      else if (info.bits === 24) {
        let n = v.getUint8(o) | (v.getUint8(o + 1) << 8) | (v.getUint8(o + 2) << 16);
        if (n & 0x800000) n -= 0x1000000;
        x = n / 8388608;
      } else x = v.getInt32(o, true) / 2147483648;
      out[c][f] = x;
    }
  }
  return out;
}
