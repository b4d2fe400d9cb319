// The capture page: front camera -> "Take selfie" -> preview (retake / send) -> result.
// Falls back to a file input (the phone's own camera) when getUserMedia is missing or
// refused. No libraries: this page must work on an offline bank network.
(function () {
  "use strict";

  var root = document.getElementById("capture");
  var postUrl = root.dataset.postUrl;
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
      showFallback("This browser cannot open the camera here. Take a selfie with your phone's camera instead.");
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
          ? "The camera was not allowed. Take a selfie with your phone's camera instead, or allow the camera and reload."
          : "The camera could not be opened. Take a selfie with your phone's camera instead.";
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

  function showResult(status, message) {
    statusBox.dataset.status = status;
    statusBox.className = "status " + (status === "verified" || status === "enrolled" ? "ok" : status === "retry" ? "retry" : "bad");
    statusBox.textContent = message;
    var retry = status === "retry";
    attemptsBox.hidden = !retry;
    attemptsBox.textContent = retry ? attemptsLeft + (attemptsLeft === 1 ? " attempt left" : " attempts left") : "";
    againButton.hidden = !retry;
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
        var message = body.message || (body.error && body.error.message) || "Something went wrong. Please try again.";
        showResult(status, message);
      })
      .catch(function () {
        showResult("retry", "The selfie could not be sent. Check your connection and try again.");
      });
  }

  takeButton.addEventListener("click", takeSelfie);
  document.getElementById("retake").addEventListener("click", retake);
  document.getElementById("send").addEventListener("click", send);
  againButton.addEventListener("click", retake);
  document.getElementById("use-file").addEventListener("click", function () {
    showFallback("Take a selfie with your phone's camera.");
  });
  fileInput.addEventListener("change", function () {
    if (fileInput.files && fileInput.files[0]) { setPhoto(fileInput.files[0]); }
  });

  startCamera();
})();
