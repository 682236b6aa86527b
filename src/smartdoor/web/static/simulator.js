// The simulator page: posts key presses, polls the door's state, plays the buzzer's tones.
(function () {
  "use strict";
  var TONES = JSON.parse(document.getElementById("tones").textContent);
  var KEYS = "123A456B789C*0#D";
  var POLL_MS = 200;
  var seq = null;          // last tone event seen; null until the first state arrives
  var audio = null;        // AudioContext, created on the first user gesture
  var audioUntil = 0;      // when the last scheduled tone ends (AudioContext time)
  var lines = document.querySelectorAll("[data-lcd-line]");
  var servo = document.getElementById("servo");
  var arm = document.getElementById("servo-arm");
  var mute = document.getElementById("mute");
  // the demo refuses key presses without the token it rendered into this page
  var PAGE_TOKEN = document.querySelector('meta[name="demo-page-token"]').getAttribute("content");

  function unlockAudio() {
    if (audio) { if (audio.state === "suspended") audio.resume(); return; }
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) { setText("audio-state", "not supported by this browser"); return; }
    try {
      audio = new Ctx();
      setText("audio-state", "on");
    } catch (e) { setText("audio-state", "unavailable"); }
  }

  function play(name) {
    var seqTones = TONES[name];
    if (!audio || !seqTones || mute.checked) return;
    var t = Math.max(audio.currentTime + 0.02, audioUntil);
    seqTones.forEach(function (pair) {
      var freq = pair[0], dur = pair[1] / 1000;
      if (freq > 0) {
        var osc = audio.createOscillator(), gain = audio.createGain();
        osc.type = "square";
        osc.frequency.value = freq;
        gain.gain.value = 0.05;
        osc.connect(gain); gain.connect(audio.destination);
        osc.start(t); osc.stop(t + dur);
      }
      t += dur;
    });
    audioUntil = t;
  }

  function setText(id, text) {
    var el = document.getElementById(id);
    if (el && el.textContent !== String(text)) el.textContent = text;
  }

  function render(s) {
    for (var i = 0; i < lines.length; i++) {
      var text = s.lcd[i] || "";
      if (lines[i].textContent !== text) lines[i].textContent = text;
    }
    var angle = String(s.servo.angle);
    if (servo.getAttribute("data-servo-angle") !== angle) {
      servo.setAttribute("data-servo-angle", angle);
      arm.setAttribute("transform", "rotate(" + (-s.servo.angle) + " 60 60)");
    }
    servo.setAttribute("data-servo-state", s.servo.state);
    var st = document.getElementById("servo-state");
    st.textContent = s.servo.state;
    st.className = "state-" + s.servo.state;
    setText("servo-angle", angle);
    setText("machine-state", s.machine);
    if (seq !== null) s.tones.forEach(function (t) { play(t.name); });
    seq = s.seq;
  }

  function poll() {
    var url = "/simulator/state" + (seq === null ? "" : "?since=" + seq);
    fetch(url, {cache: "no-store"}).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    }).then(function (s) {
      render(s);
      setText("conn", s.running ? "" : "· device not running");
    }).catch(function () {
      setText("conn", "· demo not reachable");
    }).then(function () { setTimeout(poll, POLL_MS); });
  }

  function press(key) {
    if (KEYS.indexOf(key) < 0) return;
    unlockAudio();
    var btn = document.querySelector('[data-key="' + key + '"]');
    if (btn) { btn.classList.add("pressed"); setTimeout(function () { btn.classList.remove("pressed"); }, 120); }
    fetch("/simulator/key", {method: "POST",
                             headers: {"Content-Type": "application/json", "X-Demo-Token": PAGE_TOKEN},
                             body: JSON.stringify({key: key})})
      .catch(function () { setText("conn", "· demo not reachable"); });
  }

  document.querySelectorAll("[data-key]").forEach(function (btn) {
    btn.addEventListener("click", function () { press(btn.getAttribute("data-key")); });
  });

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var k = e.key;
    if (k === "Backspace") k = "D";
    else if (k === "Escape") k = "C";
    else if (k === "Enter") k = "#";
    else if (k.length === 1) k = k.toUpperCase();
    if (KEYS.indexOf(k) < 0 || k.length !== 1) return;
    e.preventDefault();
    press(k);
  });

  poll();
})();
