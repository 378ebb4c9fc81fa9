// Test page script for the subscriber-connection tests (served with page.js by bundle.ts, which
// gives it window.sfu.publish). window.bundle opens the participant's ONE subscriber connection,
// answers every offer the SFU sends on it (fetched by polling, with the SFU's trickled
// candidates), and reports what the page sees: its RTCPeerConnections, the m-lines, which
// publisher each received track belongs to (by mid, from each offer's track list), decoding
// figures per track and per publisher, and the track events of the remote streams. Every loop is
// bounded in time or ends with its connection.
(() => {
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // Count every RTCPeerConnection the page makes (page.js's publishers included).
  const created = [];
  const NativePeerConnection = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends NativePeerConnection {
    constructor(...args) {
      super(...args);
      created.push(this);
    }
  };

  async function post(path, body) {
    const res = await fetch(path, { method: 'POST', body: JSON.stringify(body) });
    const json = await res.json();
    if (!res.ok) throw new Error(`${path}: ${json.error}`);
    return json;
  }

  const sub = {
    pc: null,
    transportId: null,
    /** mid → the track the latest offer says it carries (absent: inactive). */
    byMid: new Map(),
    /** ssrc → track info, every one ever offered (inbound-rtp stats name the SSRC). */
    bySsrc: new Map(),
    versions: [],
    errors: [],
    events: [],
    /** msid stream id → the latest MediaStream ontrack gave with that id. */
    streams: new Map(),
    channelOpen: false,
  };

  function event(type, detail) {
    sub.events.push({ type, at: Math.round(performance.now()), ...detail });
  }

  function showStream(stream) {
    let el = document.getElementById(`b-${stream.id}`);
    if (!el) {
      el = document.createElement('video');
      el.id = `b-${stream.id}`;
      el.muted = true;
      el.autoplay = true;
      el.playsInline = true;
      document.getElementById('media').appendChild(el);
    }
    if (el.srcObject !== stream) el.srcObject = stream;
  }

  async function handleOffer(offer) {
    sub.byMid.clear();
    for (const t of offer.tracks) {
      sub.byMid.set(t.mid, t);
      sub.bySsrc.set(t.ssrc, t);
    }
    await sub.pc.setRemoteDescription({ type: 'offer', sdp: offer.offerSdp });
    await sub.pc.setLocalDescription(await sub.pc.createAnswer());
    await post('/subscriber-answer', {
      transportId: sub.transportId,
      version: offer.version,
      sdp: sub.pc.localDescription.sdp,
    });
    sub.versions.push(offer.version);
  }

  async function pollLoop() {
    const deadline = performance.now() + 600000;
    while (sub.pc && sub.pc.connectionState !== 'closed' && performance.now() < deadline) {
      let got;
      try {
        got = await post('/poll', { transportId: sub.transportId });
      } catch (err) {
        sub.errors.push(String(err));
        await sleep(200);
        continue;
      }
      for (const offer of got.offers) {
        try {
          await handleOffer(offer);
        } catch (err) {
          sub.errors.push(`offer ${offer.version}: ${err}`);
        }
      }
      for (const c of got.candidates) await sub.pc.addIceCandidate(c).catch(() => {});
      await sleep(30);
    }
  }

  async function openSubscriber(participantId) {
    const { transportId } = await post('/open-subscriber', { participantId });
    const pc = new RTCPeerConnection();
    sub.pc = pc;
    sub.transportId = transportId;
    pc.onicecandidate = (e) => {
      if (!e.candidate || !e.candidate.candidate) return;
      if ((e.candidate.address || e.candidate.candidate.split(' ')[4]) !== '127.0.0.1') return;
      post('/candidate', {
        transportId,
        candidate: e.candidate.candidate,
        mid: e.candidate.sdpMid || '',
      }).catch(() => {});
    };
    pc.ondatachannel = (e) => {
      sub.channel = e.channel;
      e.channel.onopen = () => (sub.channelOpen = true);
    };
    pc.ontrack = (e) => {
      const mid = e.transceiver.mid;
      const info = sub.byMid.get(mid);
      const stream = e.streams[0];
      event('track', {
        mid,
        kind: e.track.kind,
        trackId: info?.trackId,
        publisherId: info?.publisherId,
        streamId: stream?.id,
      });
      e.track.onmute = () => event('mute', { mid });
      e.track.onunmute = () => event('unmute', { mid });
      e.track.onended = () => event('ended', { mid });
      if (!stream) return;
      // A stream emptied by inactive m-lines may come back as a new object with the same id.
      if (sub.streams.get(stream.id) !== stream) {
        sub.streams.set(stream.id, stream);
        stream.onremovetrack = (x) =>
          event('removetrack', { streamId: stream.id, kind: x.track.kind, mid: midOf(x.track) });
      }
      showStream(stream);
    };
    pollLoop();
    return { transportId };
  }

  function midOf(track) {
    return sub.pc?.getTransceivers().find((t) => t.receiver.track === track)?.mid ?? null;
  }

  async function stats() {
    const pc = sub.pc;
    const out = {
      peerConnections: created.filter((p) => p.connectionState !== 'closed').length,
      transportId: sub.transportId,
      connectionState: pc ? pc.connectionState : null,
      channelOpen: sub.channelOpen,
      versions: sub.versions,
      errors: sub.errors,
      events: sub.events,
      mlines: pc?.remoteDescription
        ? (pc.remoteDescription.sdp.match(/^m=(audio|video) /gm) ?? []).length
        : 0,
      transceivers: pc
        ? pc.getTransceivers().map((t) => ({ mid: t.mid, currentDirection: t.currentDirection }))
        : [],
      byMid: Object.fromEntries(sub.byMid),
      /** Per msid stream (one per publisher): the kinds of its live tracks, as the page sees them. */
      streams: {},
      byTrack: {},
      byPublisher: {},
    };
    for (const [id, stream] of sub.streams)
      out.streams[id] = stream
        .getTracks()
        .map((t) => t.kind)
        .sort();
    if (!pc) return out;
    for (const s of (await pc.getStats()).values()) {
      if (s.type !== 'inbound-rtp') continue;
      const info = sub.bySsrc.get(s.ssrc);
      if (!info) continue;
      const figures = {
        kind: s.kind,
        mid: s.mid,
        ssrc: s.ssrc,
        publisherId: info.publisherId,
        packetsReceived: s.packetsReceived ?? 0,
        framesDecoded: s.framesDecoded ?? 0,
        frameWidth: s.frameWidth,
        totalSamplesReceived: s.totalSamplesReceived ?? 0,
        pliCount: s.pliCount ?? 0,
      };
      out.byTrack[info.trackId] = figures;
      const p = (out.byPublisher[info.publisherId] ??= {
        audioPackets: 0,
        videoFrames: 0,
        videoPackets: 0,
      });
      if (s.kind === 'audio') p.audioPackets += figures.packetsReceived;
      else {
        p.videoFrames += figures.framesDecoded;
        p.videoPackets += figures.packetsReceived;
      }
    }
    return out;
  }

  function closeSubscriber() {
    sub.pc?.close();
  }

  window.bundle = { openSubscriber, stats, closeSubscriber };
})();
