// The head-turn challenge (SPEC §9a): ask the bank for a challenge, open the front
// camera, show its steps one at a time (a big arrow, a word, a progress ring) while
// filming, then send the frames in order with the challenge's id. There is no upload
// fallback: a picture proves nothing. Without a camera the page says why and sends the
// customer to a branch.
//
// "left" is the customer's own left. The preview is mirrored, as a front camera is
// expected to be, so turning to one's own left moves the face toward the screen's left,
// where the arrow points; the frames are drawn from the camera itself, not mirrored.
(function () {
  "use strict";

  var page = window.CapturePage;
  var t = page.t;
  var postUrl = page.root.dataset.postUrl;
  var challengeUrl = page.root.dataset.challengeUrl;
  var video = document.getElementById("video");
  var guide = document.getElementById("guide");
  var stepWords = document.getElementById("step-words");
  var ring = document.getElementById("ring-done");
  var startButton = document.getElementById("start");

  // Each step, and how long it lasts (ms): long enough for a calm turn and the way back.
  var STRAIGHT_MS = 1500;
  var TURN_MS = 1800;
  var BACK_MS = 1200;
  var FRAME_EVERY_MS = 125; // 8 frames a second
  var LONGEST_SIDE = 640;
  var RING_LENGTH = 2 * Math.PI * 45; // the progress ring's radius in its SVG

  var WORDS = {
    straight: "Look straight at the camera",
    left: "Turn your head to your left",
    right: "Turn your head to your right",
    back: "Look straight at the camera again"
  };

  function timeline(steps) {
    var phases = [{ step: "straight", ms: STRAIGHT_MS }];
    steps.forEach(function (step) {
      phases.push({ step: step, ms: TURN_MS });
      phases.push({ step: "back", ms: BACK_MS });
    });
    return phases;
  }

  function showStep(step) {
    guide.dataset.step = step;
    stepWords.textContent = t(WORDS[step]);
  }

  function showProgress(done) {
    ring.style.strokeDashoffset = String(RING_LENGTH * (1 - Math.min(done, 1)));
  }

  function noCamera(error) {
    page.stopCamera();
    var problem = t(page.cameraProblem(error));
    var allow = error && error.name === "NotAllowedError"
      ? " " + t("To try again, allow the camera for this page and press Try the camera again.")
      : "";
    document.getElementById("no-camera-reason").textContent = problem + allow;
    page.show("no-camera");
  }

  // One frame as the camera sees it (not mirrored), at most 640 px on its longest side.
  function grab(canvas) {
    var scale = Math.min(1, LONGEST_SIDE / Math.max(video.videoWidth, video.videoHeight));
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    return new Promise(function (resolve) { canvas.toBlob(resolve, "image/jpeg", 0.85); });
  }

  // Film the steps; resolves with the frames in order.
  function film(steps) {
    var phases = timeline(steps);
    var total = phases.reduce(function (sum, phase) { return sum + phase.ms; }, 0);
    var frames = [];
    var canvas = document.createElement("canvas");
    return new Promise(function (resolve) {
      var started = performance.now();
      function tick() {
        var elapsed = performance.now() - started;
        if (elapsed >= total) {
          window.clearInterval(timer);
          Promise.all(frames).then(resolve);
          return;
        }
        var at = 0;
        for (var i = 0; i < phases.length; i += 1) {
          at += phases[i].ms;
          if (elapsed < at) { if (guide.dataset.step !== phases[i].step) { showStep(phases[i].step); } break; }
        }
        showProgress(elapsed / total);
        frames.push(grab(canvas));
      }
      var timer = window.setInterval(tick, FRAME_EVERY_MS);
      tick();
    }).then(function (blobs) { return blobs.filter(Boolean); });
  }

  // At most `most` frames, evenly spread over the whole film, first and last included.
  function sample(frames, most) {
    if (frames.length <= most) { return frames; }
    var kept = [];
    for (var i = 0; i < most; i += 1) {
      kept.push(frames[Math.round(i * (frames.length - 1) / (most - 1))]);
    }
    return kept;
  }

  function send(challenge, frames) {
    page.show("sending");
    var form = new FormData();
    form.append("challenge", challenge.challenge);
    frames.forEach(function (frame, index) {
      form.append("frame", frame, "frame-" + (index + 1) + ".jpg");
    });
    return page.post(postUrl, form).then(page.showResult, page.connectionLost);
  }

  function start() {
    startButton.disabled = true;
    page.show("starting");
    var form = new FormData();
    page.post(challengeUrl, form)
      .then(function (answer) {
        if (answer.http !== 201) { page.showResult(answer); return null; }
        var challenge = answer.body;
        return page.openCamera(video, {
          facingMode: "user", width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 15 }
        }).then(function () {
          showStep("straight");
          showProgress(0);
          page.show("guide");
          return film(challenge.steps);
        }, function (error) {
          noCamera(error);
          return null;
        }).then(function (frames) {
          if (frames === null) { return null; }
          // The camera is no longer needed: off before the answer comes.
          page.stopCamera();
          if (frames.length < challenge.min_frames) {
            page.showResult({ status: "retry", code: "too_few_frames" });
            return null;
          }
          return send(challenge, sample(frames, challenge.max_frames));
        });
      }, page.connectionLost)
      .then(function () { startButton.disabled = false; });
  }

  startButton.addEventListener("click", start);
  document.getElementById("again").addEventListener("click", start);
  document.getElementById("camera-again").addEventListener("click", start);
})();
