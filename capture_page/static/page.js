// What both ways of answering a capture link share: the page's words (in the customer's
// language, translated on the server: capture_page/page.py), showing one step at a
// time, opening the front camera, and reading and showing the bank's answer.
// No libraries: this page must work on an offline bank network.
(function () {
  "use strict";

  var root = document.getElementById("capture");
  var words = JSON.parse(root.dataset.words || "{}");
  var purpose = root.dataset.purpose;
  var title = document.getElementById("title");
  var detail = document.getElementById("detail");
  var statusBox = document.getElementById("status");
  var attemptsBox = document.getElementById("attempts");
  var againButton = document.getElementById("again");
  var stream = null;

  function t(english) { return (words.strings && words.strings[english]) || english; }

  function show(id) {
    Array.prototype.forEach.call(root.querySelectorAll("section.step"), function (step) {
      step.hidden = step.id !== id;
    });
    root.dataset.step = id;
  }

  // The front camera, for `video`; rejects with the reason to show the customer.
  function openCamera(video, constraints) {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      return Promise.reject(new Error("unsupported"));
    }
    return navigator.mediaDevices
      .getUserMedia({ video: constraints, audio: false })
      .then(function (media) {
        stream = media;
        video.srcObject = media;
        return video.play();
      })
      .then(function () { return waitForFrames(video); });
  }

  // Resolves once the camera delivers real frames (not a black first frame).
  function waitForFrames(video) {
    return new Promise(function (resolve) {
      (function check() {
        if (video.videoWidth > 0 && video.readyState >= 2) { resolve(); } else { window.setTimeout(check, 50); }
      })();
    });
  }

  function cameraProblem(error) {
    if (error && error.message === "unsupported") {
      return "This browser cannot open the camera here.";
    }
    if (error && error.name === "NotAllowedError") {
      return "The camera was not allowed.";
    }
    return "The camera could not be opened.";
  }

  function stopCamera() {
    if (stream) {
      stream.getTracks().forEach(function (track) { track.stop(); });
      stream = null;
    }
  }

  function cameraIsOpen() { return stream !== null; }

  // What the customer reads after sending, in their words: by the answer's code when the
  // page knows it, else by its status; the server's own message only for anything else
  // (it is shared with the staff API, and may be worded for a developer).
  var BY_CODE = {
    unsupported_photo_type: "That file is not a photo. Take a selfie with the camera and send it.",
    photo_too_large: "That photo is too large. Take a new selfie with the camera and send it.",
    photo_unreadable: "That photo could not be opened. Please take it again.",
    photo_missing: "We did not receive a photo. Please take your selfie again.",
    selfie_missing: "We did not receive a photo. Please take your selfie again.",
    no_face: "We could not find a face in the photo. Face the camera in good light, with nothing covering your face, and try again.",
    several_faces: "There is more than one face in the photo. Make sure only you are in the picture and try again.",
    face_too_small: "Your face is too small in the photo. Hold the phone closer and try again.",
    face_check_unavailable: "We cannot check selfies right now. Please wait a minute and try again.",
    link_used: "This link has already been used. Each link works only once.",
    link_expired: "This link has expired. Links work for 10 minutes; please ask for a new one.",
    unknown_link: "This link is not valid. Check that you opened the whole link from our text.",
    challenge_unknown: "The head-turn check has to start again. Press Try again and follow the arrows.",
    challenge_used: "The head-turn check has to start again. Press Try again and follow the arrows.",
    challenge_voided: "The head-turn check has to start again. Press Try again and follow the arrows.",
    challenge_expired: "The head-turn check took too long. Press Try again and follow the arrows.",
    too_few_frames: "The pictures of the check could not be used. Please try again.",
    too_many_frames: "The pictures of the check could not be used. Please try again.",
    frame_too_large: "The pictures of the check could not be used. Please try again.",
    frames_too_large: "The pictures of the check could not be used. Please try again.",
    frame_not_jpeg: "The pictures of the check could not be used. Please try again.",
    frame_too_big: "The pictures of the check could not be used. Please try again.",
    frame_sizes_differ: "The pictures of the check could not be used. Please try again.",
    too_many_challenges: "Too many checks were started on this link. Please ask for a new link."
  };
  var DONE = {
    withdrawal: ["Withdrawal approved", "It's you: your withdrawal is approved. We have sent you a text with its reference. You can close this page."],
    phone_change: ["Phone number changed", "It's you: your phone number is changed. Both numbers get a text. You can close this page."],
    enrolment: ["Face enrolled", "Your face is enrolled. From now on, a selfie approves your withdrawals. You can close this page."]
  };
  var FINAL = { verified: true, enrolled: true, failed: true, expired: true };

  function wordsFor(answer) {
    if (answer.code && BY_CODE[answer.code]) { return t(BY_CODE[answer.code]); }
    // A decided head-turn check (it has a reason) is worded by the bank, in the
    // customer's language, what went wrong and the attempts left included.
    if (answer.reason && answer.message) { return answer.message; }
    if ((answer.status === "verified" || answer.status === "enrolled") && DONE[purpose]) { return t(DONE[purpose][1]); }
    if (answer.status === "retry" && !answer.code) {
      return t("That selfie did not match your enrolled face. Face the camera in good light and try again.");
    }
    if (answer.http >= 500 || !answer.message) { return t("Something went wrong. Please try again."); }
    return answer.message;
  }

  // A finished page says so in its heading; the instructions above no longer apply.
  function headingFor(status) {
    if ((status === "verified" || status === "enrolled") && DONE[purpose]) { return t(DONE[purpose][0]); }
    if (status === "failed") { return t("Not approved"); }
    if (status === "expired") { return t("This link no longer works"); }
    return null;
  }

  function showResult(answer) {
    var status = answer.status;
    statusBox.dataset.status = status;
    if (answer.reason) { statusBox.dataset.reason = answer.reason; } else { delete statusBox.dataset.reason; }
    statusBox.className = "status " + (status === "verified" || status === "enrolled" ? "ok" : status === "retry" ? "retry" : "bad");
    statusBox.textContent = wordsFor(answer);
    var retry = status === "retry";
    // The bank's words for a decided check already say how many attempts are left.
    var countShown = retry && !answer.reason && typeof answer.attemptsLeft === "number";
    attemptsBox.hidden = !countShown;
    attemptsBox.textContent = countShown ? (words.attempts && words.attempts[String(answer.attemptsLeft)]) || "" : "";
    againButton.hidden = !retry;
    var heading = headingFor(status);
    if (heading) {
      title.textContent = heading;
      document.title = heading + " · SMS Bank";
      if (detail) { detail.hidden = true; }
    }
    if (FINAL[status]) { stopCamera(); }
    show("result");
  }

  // POST a form to the link; resolves with {status, code, reason, message, attemptsLeft}.
  function post(url, form) {
    return fetch(url, { method: "POST", body: form, credentials: "omit", cache: "no-store" })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          return readAnswer(response.status, body);
        });
      });
  }

  function readAnswer(http, body) {
    var status = body.status;
    if (!status && http < 300) { status = "ok"; }
    if (!status) {
      // Errors without a page status (too large, busy...): let the customer retry.
      status = http === 410 || http === 404 ? "expired" : "retry";
    }
    return {
      http: http,
      body: body,
      status: status,
      code: (body.error && body.error.code) || null,
      reason: body.reason || null,
      message: body.message || (body.error && body.error.message) || null,
      attemptsLeft: typeof body.attempts_left === "number" ? body.attempts_left : null
    };
  }

  function connectionLost() {
    showResult({ status: "retry", message: t("Your answer could not be sent. Check your connection and try again."), code: "offline" });
  }

  window.CapturePage = {
    root: root,
    t: t,
    show: show,
    openCamera: openCamera,
    cameraProblem: cameraProblem,
    cameraIsOpen: cameraIsOpen,
    stopCamera: stopCamera,
    showResult: showResult,
    post: post,
    connectionLost: connectionLost
  };
})();
