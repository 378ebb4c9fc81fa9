// Test page for the SFU browser tests (served by harness.ts). Publishes the fake camera and
// microphone, subscribes to other participants, and reports getStats() figures. Every loop is
// bounded in time. Only loopback ICE candidates are sent to the SFU, so that all test traffic
// stays on 127.0.0.1.
(() => {
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  async function post(path, body) {
    const res = await fetch(path, { method: 'POST', body: JSON.stringify(body) });
    const json = await res.json();
    if (!res.ok) throw new Error(`${path}: ${json.error}`);
    return json;
  }

  function isLoopback(candidate) {
    const address = candidate.address || candidate.candidate.split(' ')[4];
    return address === '127.0.0.1';
  }

  /** Sends this page's loopback candidates to the SFU once the transport id is known. */
  function trickleUp(pc) {
    const buffered = [];
    let transportId = null;
    pc.onicecandidate = (e) => {
      if (!e.candidate || !e.candidate.candidate || !isLoopback(e.candidate)) return;
      const c = { candidate: e.candidate.candidate, mid: e.candidate.sdpMid || '' };
      if (transportId) post('/candidate', { transportId, ...c }).catch(() => {});
      else buffered.push(c);
    };
    return (id) => {
      transportId = id;
      for (const c of buffered.splice(0)) post('/candidate', { transportId, ...c }).catch(() => {});
    };
  }

  /** Fetches the SFU's trickled candidates until connected (at most 20 s). */
  async function trickleDown(pc, transportId) {
    const deadline = performance.now() + 20000;
    while (performance.now() < deadline && !['connected', 'failed', 'closed'].includes(pc.connectionState)) {
      try {
        const { candidates } = await post('/candidates', { transportId });
        for (const c of candidates) await pc.addIceCandidate(c);
      } catch {
        return;
      }
      await sleep(30);
    }
  }

  const state = { publishers: [], subscriptions: new Map() };
  // Every SDP received from the SFU (tests read the candidates in them).
  window.sfuRemoteSdps = [];

  async function publish(participantId, opts = {}) {
    const { audio = true, video = true, codec } = opts;
    const stream = await navigator.mediaDevices.getUserMedia({
      audio,
      video: video ? { width: 640, height: 480, frameRate: 20 } : false,
    });
    const pc = new RTCPeerConnection();
    for (const track of stream.getTracks()) {
      const t = pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
      if (codec && track.kind === 'video') {
        const caps = RTCRtpSender.getCapabilities('video').codecs;
        t.setCodecPreferences([
          ...caps.filter((c) => c.mimeType.toLowerCase() === `video/${codec.toLowerCase()}`),
          ...caps.filter((c) => c.mimeType.toLowerCase() !== `video/${codec.toLowerCase()}`),
        ]);
      }
    }
    const ready = trickleUp(pc);
    await pc.setLocalDescription(await pc.createOffer());
    const res = await post('/publish', { participantId, sdp: pc.localDescription.sdp });
    ready(res.transportId);
    window.sfuRemoteSdps.push(res.sdp);
    await pc.setRemoteDescription({ type: 'answer', sdp: res.sdp });
    trickleDown(pc, res.transportId);
    state.publishers.push({ pc, stream, transportId: res.transportId });
    return { transportId: res.transportId, tracks: res.tracks };
  }

  async function subscribe(subscriberId, publisherId) {
    const t0 = performance.now();
    const res = await post('/subscribe', { subscriberId, publisherId });
    const pc = new RTCPeerConnection();
    const sub = { pc, transportId: res.transportId, t0, firstFrameMs: null, connectedMs: null, trackIds: [] };
    state.subscriptions.set(publisherId, sub);
    pc.ontrack = (e) => {
      sub.trackIds.push(e.track.id);
      const stream = e.streams[0];
      if (!stream || document.getElementById(`v-${publisherId}`)) return;
      const el = document.createElement('video');
      el.id = `v-${publisherId}`;
      el.muted = true;
      el.autoplay = true;
      el.playsInline = true;
      el.srcObject = stream;
      document.getElementById('media').appendChild(el);
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'connected' && sub.connectedMs === null)
        sub.connectedMs = performance.now() - t0;
    };
    const ready = trickleUp(pc);
    ready(res.transportId);
    window.sfuRemoteSdps.push(res.sdp);
    await pc.setRemoteDescription({ type: 'offer', sdp: res.sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    await post('/answer', { transportId: res.transportId, sdp: pc.localDescription.sdp });
    trickleDown(pc, res.transportId);
    // Join-to-first-decoded-frame, measured from the subscribe request (bounded at 20 s).
    (async () => {
      const deadline = performance.now() + 20000;
      while (performance.now() < deadline && sub.firstFrameMs === null && pc.connectionState !== 'closed') {
        const stats = await pc.getStats();
        for (const s of stats.values()) {
          if (s.type === 'inbound-rtp' && s.kind === 'video' && s.framesDecoded > 0) {
            sub.firstFrameMs = performance.now() - t0;
          }
        }
        await sleep(10);
      }
    })();
    return { transportId: res.transportId, tracks: res.tracks };
  }

  function pick(s, keys) {
    const out = {};
    for (const k of keys) if (s[k] !== undefined) out[k] = s[k];
    return out;
  }

  async function stats() {
    const subscriptions = {};
    for (const [publisherId, sub] of state.subscriptions) {
      const out = {
        connectionState: sub.pc.connectionState,
        firstFrameMs: sub.firstFrameMs,
        connectedMs: sub.connectedMs,
        trackIds: sub.trackIds,
        video: null,
        audio: null,
        senderReports: { audio: 0, video: 0 },
      };
      for (const s of (await sub.pc.getStats()).values()) {
        if (s.type === 'inbound-rtp') {
          out[s.kind] = pick(s, [
            'ssrc',
            'packetsReceived',
            'bytesReceived',
            'packetsLost',
            'framesDecoded',
            'keyFramesDecoded',
            'frameWidth',
            'frameHeight',
            'nackCount',
            'pliCount',
            'firCount',
            'jitter',
            'totalSamplesReceived',
            'estimatedPlayoutTimestamp',
          ]);
        } else if (s.type === 'remote-outbound-rtp') {
          out.senderReports[s.kind] = s.reportsSent || 1;
        }
      }
      subscriptions[publisherId] = out;
    }
    const publishers = [];
    for (const p of state.publishers) {
      const out = {
        transportId: p.transportId,
        connectionState: p.pc.connectionState,
        video: null,
        audio: null,
      };
      const report = await p.pc.getStats();
      for (const s of report.values()) {
        if (s.type === 'outbound-rtp') {
          out[s.kind] = pick(s, [
            'ssrc',
            'packetsSent',
            'framesEncoded',
            'keyFramesEncoded',
            'frameWidth',
            'frameHeight',
            'qualityLimitationReason',
            'pliCount',
            'firCount',
            'nackCount',
            'targetBitrate',
            'encoderImplementation',
          ]);
          const codec = s.codecId ? report.get(s.codecId) : undefined;
          if (codec) out[s.kind].mimeType = codec.mimeType;
        } else if (s.type === 'candidate-pair' && s.nominated && s.availableOutgoingBitrate !== undefined) {
          out.availableOutgoingBitrate = s.availableOutgoingBitrate;
        }
      }
      publishers.push(out);
    }
    return { subscriptions, publishers };
  }

  function unsubscribe(publisherId) {
    const sub = state.subscriptions.get(publisherId);
    if (sub) sub.pc.close();
    state.subscriptions.delete(publisherId);
    document.getElementById(`v-${publisherId}`)?.remove();
  }

  function closeAll() {
    for (const p of state.publishers) {
      p.pc.close();
      for (const t of p.stream.getTracks()) t.stop();
    }
    for (const s of state.subscriptions.values()) s.pc.close();
    state.publishers = [];
    state.subscriptions.clear();
  }

  window.sfu = { publish, subscribe, unsubscribe, stats, closeAll };
})();
