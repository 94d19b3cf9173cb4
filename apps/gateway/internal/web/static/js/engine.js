// The audio engine: Web Audio scheduling, so one track follows another on
// the same sample clock with no gap (two <audio> elements leave tens of
// milliseconds between tracks).
//
// A WAV track is streamed in chunks of a few seconds with HTTP Range
// requests through the gateway: the first request starts at byte 0 (albums
// counts that one as a play), later chunks and seeks ask for the bytes they
// need. Each chunk becomes an AudioBuffer started at the exact time its first
// frame is due. Other formats (MP3, Ogg, FLAC) are fetched whole and decoded
// by the browser. The next track in the queue is opened a few seconds before
// the current one ends and its first chunk is scheduled at the sample where
// the current one stops. Pause suspends the AudioContext, so everything
// scheduled stays in step.

import { api } from './api.js';
import { parseWav, toChannels } from './wav.js';

const HEAD_BYTES = 128 * 1024; // the first request: the header and the first seconds
const CHUNK_SECONDS = 4;
const AHEAD = 8; // seconds scheduled ahead of the clock
const PRELOAD = 6; // seconds before the end at which the next track is opened

class Voice {
  constructor(engine, track) {
    this.e = engine;
    this.track = track;
    this.nodes = new Set();
    this.abort = new AbortController();
    this.startAt = 0; // AudioContext time of the track's position 0
    this.duration = track.audio && track.audio.durationMs ? track.audio.durationMs / 1000 : 0;
    this.preview = false;
    this.previewSeconds = 0;
    this.info = null; // WAV: header; else null
    this.buffer = null; // non-WAV: the decoded file
    this.nextFrame = 0;
    this.fetching = false;
    this.dead = false;
  }

  async fetchRange(from, to) {
    const res = await api(`/tracks/${this.track.id}/stream`, {
      raw: true, signal: this.abort.signal, headers: { Range: `bytes=${from}-${to}` },
    });
    const total = Number((res.headers.get('Content-Range') || '').split('/')[1]) || Number(res.headers.get('Content-Length')) || 0;
    if (from === 0) {
      this.preview = res.headers.get('X-Harmonia-Preview') === 'true';
      this.previewSeconds = Number(res.headers.get('X-Harmonia-Preview-Seconds')) || 0;
    }
    return { buf: await res.arrayBuffer(), total };
  }

  // open reads the start of the file (a play), and schedules the track so
  // that position `offset` sounds at context time due() (asked once the
  // first bytes are in: a fresh start waits for them, the next track of a
  // queue is due when the current one ends).
  async open(offset, due) {
    const { buf, total } = await this.fetchRange(0, HEAD_BYTES - 1);
    if (this.dead) return;
    let when = due();
    const info = parseWav(buf, total);
    if (info) {
      this.info = info;
      this.duration = info.duration;
      this.startAt = when - offset;
      this.nextFrame = Math.min(info.frames, Math.floor(offset * info.sampleRate));
      if (this.nextFrame === 0) { // the first frames are in hand already
        const have = Math.floor((buf.byteLength - info.dataOffset) / info.blockAlign);
        const n = Math.min(have, info.frames, CHUNK_SECONDS * info.sampleRate);
        if (n > 0) this.schedulePCM(buf.slice(info.dataOffset, info.dataOffset + n * info.blockAlign), 0);
      }
      return;
    }
    // not WAV: the whole file, decoded once
    let whole = buf;
    if (total > buf.byteLength) {
      const rest = await this.fetchRange(buf.byteLength, total - 1);
      const all = new Uint8Array(total);
      all.set(new Uint8Array(buf), 0);
      all.set(new Uint8Array(rest.buf), buf.byteLength);
      whole = all.buffer;
    }
    if (this.dead) return;
    this.buffer = await this.e.ctx.decodeAudioData(whole);
    this.duration = this.buffer.duration;
    when = Math.max(due(), this.e.ctx.currentTime);
    this.startAt = when - offset;
    this.startNode(this.buffer, when, offset);
  }

  schedulePCM(bytes, frame) {
    const info = this.info;
    const chans = toChannels(bytes, info);
    const n = chans[0].length;
    if (!n) return;
    const b = this.e.ctx.createBuffer(info.channels, n, info.sampleRate);
    chans.forEach((c, i) => b.copyToChannel(c, i));
    const when = this.startAt + frame / info.sampleRate;
    const now = this.e.ctx.currentTime;
    if (when + n / info.sampleRate <= now) { this.nextFrame = frame + n; return; } // too late for all of it
    this.startNode(b, Math.max(when, now), Math.max(0, now - when));
    this.nextFrame = frame + n;
  }

  startNode(buffer, when, offset) {
    const src = this.e.ctx.createBufferSource();
    src.buffer = buffer;
    src.connect(this.e.out);
    src.onended = () => this.nodes.delete(src);
    src.start(when, offset);
    this.nodes.add(src);
  }

  get end() { return this.startAt + this.duration; }

  get scheduledUntil() {
    if (this.buffer) return this.end;
    if (!this.info) return this.startAt;
    return this.startAt + this.nextFrame / this.info.sampleRate;
  }

  get fullyScheduled() {
    return !!this.buffer || (!!this.info && this.nextFrame >= this.info.frames);
  }

  // pump fetches and schedules the next chunk when the clock nears the end
  // of what is scheduled.
  async pump() {
    if (this.dead || this.fetching || !this.info || this.fullyScheduled) return;
    if (this.scheduledUntil > this.e.ctx.currentTime + AHEAD) return;
    const info = this.info;
    const from = this.nextFrame;
    const to = Math.min(info.frames, from + CHUNK_SECONDS * info.sampleRate);
    this.fetching = true;
    try {
      const { buf } = await this.fetchRange(info.dataOffset + from * info.blockAlign, info.dataOffset + to * info.blockAlign - 1);
      if (!this.dead && this.nextFrame === from) this.schedulePCM(buf, from);
    } finally {
      this.fetching = false;
    }
  }

  stop() {
    this.dead = true;
    this.abort.abort();
    for (const n of this.nodes) { try { n.stop(); } catch { /* not started */ } n.disconnect(); }
    this.nodes.clear();
  }
}

export class Engine extends EventTarget {
  constructor() {
    super();
    this.ctx = null;
    this.out = null;
    this.vol = 1;
    this.muted = false;
    this.cur = null; // the Voice playing
    this.nxt = null; // the Voice scheduled after it
    this.upNext = null; // the track that should follow (the player says)
    this.wantPlaying = false;
    this.timer = null;
  }

  ensure() {
    if (!this.ctx) {
      this.ctx = new AudioContext({ latencyHint: 'playback' });
      this.out = this.ctx.createGain();
      this.out.gain.value = this.muted ? 0 : this.vol;
      this.out.connect(this.ctx.destination);
    }
    if (!this.timer) this.timer = setInterval(() => this.tick(), 200);
    return this.ctx;
  }

  get track() { return this.cur ? this.cur.track : null; }
  get duration() { return this.cur ? this.cur.duration : 0; }
  get preview() { return this.cur ? this.cur.preview : false; }
  get previewSeconds() { return this.cur ? this.cur.previewSeconds : 0; }
  get paused() { return !this.wantPlaying; }

  get currentTime() {
    if (!this.cur || !this.ctx) return this.pendingOffset || 0;
    const t = this.ctx.currentTime - this.cur.startAt;
    return Math.max(0, Math.min(t, this.cur.duration || t));
  }

  // load stops what plays and starts track at offset seconds (playing or
  // not, as autoplay says).
  async load(track, offset = 0, autoplay = true) {
    this.ensure();
    this.stopAll();
    this.wantPlaying = autoplay;
    const v = new Voice(this, track);
    this.cur = v;
    this.pendingOffset = offset;
    if (autoplay) await this.ctx.resume();
    else await this.ctx.suspend();
    try {
      await v.open(offset, () => this.ctx.currentTime + 0.05);
    } catch (err) {
      if (v.dead) return;
      this.cur = null;
      this.dispatchEvent(new CustomEvent('error', { detail: err }));
      return;
    }
    if (v.dead) return;
    this.pendingOffset = 0;
    this.dispatchEvent(new Event('trackchange'));
    this.dispatchEvent(new Event(this.wantPlaying ? 'play' : 'pause'));
  }

  // setNext names the track that follows (null: none); a different one
  // already scheduled is cancelled.
  setNext(track) {
    this.upNext = track || null;
    if (this.nxt && (!track || this.nxt.track.id !== track.id)) { this.nxt.stop(); this.nxt = null; }
  }

  async play() {
    if (!this.cur) return;
    this.ensure();
    this.wantPlaying = true;
    await this.ctx.resume();
    this.dispatchEvent(new Event('play'));
  }

  async pause() {
    if (!this.ctx) return;
    this.wantPlaying = false;
    await this.ctx.suspend();
    this.dispatchEvent(new Event('pause'));
  }

  seek(t) {
    const v = this.cur;
    if (!v || !this.ctx) return;
    t = Math.max(0, Math.min(t, Math.max(0, v.duration - 0.05)));
    if (this.nxt) { this.nxt.stop(); this.nxt = null; } // its time moves with ours
    for (const n of v.nodes) { try { n.stop(); } catch { /* not started */ } n.disconnect(); }
    v.nodes.clear();
    v.abort.abort();
    v.abort = new AbortController();
    v.fetching = false;
    const when = this.ctx.currentTime + 0.08;
    v.startAt = when - t;
    if (v.buffer) v.startNode(v.buffer, when, t);
    else if (v.info) { v.nextFrame = Math.floor(t * v.info.sampleRate); v.pump().catch((e) => this.fail(e)); }
    this.dispatchEvent(new Event('seeked'));
  }

  setVolume(x) {
    this.vol = Math.max(0, Math.min(1, x));
    if (this.out && !this.muted) this.out.gain.setTargetAtTime(this.vol, this.ctx.currentTime, 0.01);
    this.dispatchEvent(new Event('volumechange'));
  }

  setMuted(m) {
    this.muted = m;
    if (this.out) this.out.gain.setTargetAtTime(m ? 0 : this.vol, this.ctx.currentTime, 0.01);
    this.dispatchEvent(new Event('volumechange'));
  }

  stopAll() {
    if (this.cur) this.cur.stop();
    if (this.nxt) this.nxt.stop();
    this.cur = this.nxt = null;
  }

  stop() {
    this.stopAll();
    this.wantPlaying = false;
    this.dispatchEvent(new Event('pause'));
  }

  fail(err) {
    if (err && err.name === 'AbortError') return;
    this.dispatchEvent(new CustomEvent('error', { detail: err }));
  }

  tick() {
    const ctx = this.ctx;
    if (!ctx || !this.cur) return;
    const now = ctx.currentTime;
    this.cur.pump().catch((e) => this.fail(e));
    if (this.nxt) this.nxt.pump().catch((e) => this.fail(e));
    // open the next track in time to schedule its first chunk at our end
    const cur = this.cur;
    if (!this.nxt && this.upNext && (cur.info || cur.buffer) && cur.fullyScheduled && cur.end - now < PRELOAD) {
      const v = new Voice(this, this.upNext);
      this.nxt = v;
      v.open(0, () => cur.end).catch((e) => {
        if (this.nxt === v) { this.nxt = null; this.upNext = null; }
        this.fail(e);
      });
    }
    if (this.nxt && (this.nxt.info || this.nxt.buffer) && now >= this.nxt.startAt) { // the next one sounds: it is current
      const old = this.cur;
      this.cur = this.nxt;
      this.nxt = null;
      this.upNext = null;
      setTimeout(() => old.stop(), 500);
      this.dispatchEvent(new Event('trackchange'));
      return;
    }
    if (!this.nxt && (cur.info || cur.buffer) && cur.fullyScheduled && now >= cur.end && this.wantPlaying && !this.upNext) {
      this.stop();
      this.dispatchEvent(new Event('ended'));
    }
  }
}
