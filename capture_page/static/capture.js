// The capture page: front camera -> the take button -> preview (retake / send) -> result.
// Falls back to a file input (the phone's own camera) when getUserMedia is missing or
// refused. No libraries: this page must work on an offline bank network.
(function () {
  "use strict";

  var root = document.getElementById("capture");
  var postUrl = root.dataset.postUrl;
  // The page's words in the customer's language, keyed by their English (the server
  // translates them: capture_page/page.py).
  var words = JSON.parse(root.dataset.words || "{}");
  function t(english) { return (words.strings && words.strings[english]) || english; }
  var purpose = root.dataset.purpose;
  var title = document.getElementById("title");
  var detail = document.getElementById("detail");
  var attemptsLeft = parseInt(root.dataset.attemptsLeft || "0", 10);
  var video = document.getElementById("video");
  var shot = document.getElementById("shot");
  var takeButton = document.getElementById("take");
  var fileInput = document.getElementById("file");
  var statusBox = document.getElementById("status");
  var attemptsBox = document.getElementById("attempts");
  var againButton = document.getElementById("again");
  var stream = null;
  var photo = null;
  var photoUrl = null;
  var cameraWorks = false;

  var FINAL = { verified: true, enrolled: true, failed: true, expired: true };

  function show(id) {
    ["starting", "camera", "fallback", "preview", "sending", "result"].forEach(function (step) {
      document.getElementById(step).hidden = step !== id;
    });
    root.dataset.step = id;
  }

  function stopCamera() {
    if (stream) {
      stream.getTracks().forEach(function (track) { track.stop(); });
      stream = null;
    }
  }

  function showFallback(reason) {
    cameraWorks = false;
    stopCamera();
    document.getElementById("fallback-reason").textContent = reason;
    show("fallback");
  }

  function startCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      showFallback(t("This browser cannot open the camera here. Take a selfie with your phone's camera instead."));
      return;
    }
    show("starting");
    navigator.mediaDevices
      .getUserMedia({ video: { facingMode: "user", width: { ideal: 1280 }, height: { ideal: 960 } }, audio: false })
      .then(function (media) {
        stream = media;
        video.srcObject = media;
        return video.play();
      })
      .then(function () {
        cameraWorks = true;
        show("camera");
        waitForFrames();
      })
      .catch(function (error) {
        var reason = error && error.name === "NotAllowedError"
          ? t("The camera was not allowed. Take a selfie with your phone's camera instead, or allow the camera and reload the page.")
          : t("The camera could not be opened. Take a selfie with your phone's camera instead.");
        showFallback(reason);
      });
  }

  // The button works once the camera delivers real frames (not a black first frame).
  function waitForFrames() {
    if (video.videoWidth > 0 && video.readyState >= 2) {
      takeButton.disabled = false;
    } else {
      window.setTimeout(waitForFrames, 100);
    }
  }

  function setPhoto(blob) {
    photo = blob;
    if (photoUrl) { URL.revokeObjectURL(photoUrl); }
    photoUrl = URL.createObjectURL(blob);
    shot.src = photoUrl;
    show("preview");
  }

  function takeSelfie() {
    var canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    canvas.toBlob(function (blob) {
      if (blob) { setPhoto(blob); }
    }, "image/jpeg", 0.92);
  }

  function retake() {
    photo = null;
    if (cameraWorks && stream) {
      show("camera");
    } else if (cameraWorks) {
      startCamera();
    } else {
      fileInput.value = "";
      show("fallback");
    }
  }

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
    unknown_link: "This link is not valid. Check that you opened the whole link from our text."
  };
  var VERIFIED = {
    withdrawal: ["Withdrawal approved", "It's you: your withdrawal is approved. We have sent you a text with its reference. You can close this page."],
    phone_change: ["Phone number changed", "It's you: your phone number is changed. Both numbers get a text. You can close this page."],
    enrolment: ["Face enrolled", "Your face is enrolled. From now on, a selfie approves your withdrawals. You can close this page."]
  };

  function wordsFor(status, code, serverMessage) {
    if (code && BY_CODE[code]) { return t(BY_CODE[code]); }
    if ((status === "verified" || status === "enrolled") && VERIFIED[purpose]) { return t(VERIFIED[purpose][1]); }
    if (status === "retry" && (!code || code === "no_match")) {
      return t("That selfie did not match your enrolled face. Face the camera in good light and try again.");
    }
    return serverMessage || t("Something went wrong. Please try again.");
  }

  // A finished page says so in its heading; the instructions above no longer apply.
  function headingFor(status) {
    if ((status === "verified" || status === "enrolled") && VERIFIED[purpose]) { return t(VERIFIED[purpose][0]); }
    if (status === "failed") { return t("Not approved"); }
    if (status === "expired") { return t("This link no longer works"); }
    return null;
  }

  function showResult(status, message) {
    statusBox.dataset.status = status;
    statusBox.className = "status " + (status === "verified" || status === "enrolled" ? "ok" : status === "retry" ? "retry" : "bad");
    statusBox.textContent = message;
    var retry = status === "retry";
    attemptsBox.hidden = !retry;
    attemptsBox.textContent = retry ? (words.attempts && words.attempts[String(attemptsLeft)]) || "" : "";
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

  function send() {
    if (!photo) { return; }
    show("sending");
    var form = new FormData();
    form.append("selfie", photo, "selfie.jpg");
    fetch(postUrl, { method: "POST", body: form, credentials: "omit", cache: "no-store" })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          return { http: response.status, body: body };
        });
      })
      .then(function (answer) {
        var body = answer.body || {};
        var status = body.status;
        if (typeof body.attempts_left === "number") { attemptsLeft = body.attempts_left; }
        if (!status) {
          // Errors without a page status (too large, busy...): let the customer retry.
          status = answer.http === 410 || answer.http === 404 ? "expired" : "retry";
        }
        var code = body.reason || (body.error && body.error.code) || null;
        showResult(status, wordsFor(status, code, body.message || (body.error && body.error.message)));
      })
      .catch(function () {
        showResult("retry", t("The selfie could not be sent. Check your connection and try again."));
      });
  }

  takeButton.addEventListener("click", takeSelfie);
  document.getElementById("retake").addEventListener("click", retake);
  document.getElementById("send").addEventListener("click", send);
  againButton.addEventListener("click", retake);
  document.getElementById("use-file").addEventListener("click", function () {
    showFallback(t("Take a selfie with your phone's camera."));
  });
  fileInput.addEventListener("change", function () {
    if (fileInput.files && fileInput.files[0]) { setPhoto(fileInput.files[0]); }
  });

  startCamera();
})();
