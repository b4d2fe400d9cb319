// One selfie (SMSBANK_LIVENESS=off): front camera -> the take button -> preview (retake /
// send) -> the bank's answer. Falls back to a file input (the phone's own camera app)
// when the camera cannot be opened here.
(function () {
  "use strict";

  var page = window.CapturePage;
  var t = page.t;
  var postUrl = page.root.dataset.postUrl;
  var video = document.getElementById("video");
  var shot = document.getElementById("shot");
  var takeButton = document.getElementById("take");
  var fileInput = document.getElementById("file");
  var photo = null;
  var photoUrl = null;
  var cameraWorks = false;

  function showFallback(reason) {
    cameraWorks = false;
    page.stopCamera();
    document.getElementById("fallback-reason").textContent = reason;
    page.show("fallback");
  }

  function startCamera() {
    page.show("starting");
    takeButton.disabled = true;
    page.openCamera(video, { facingMode: "user", width: { ideal: 1280 }, height: { ideal: 960 } })
      .then(function () {
        cameraWorks = true;
        takeButton.disabled = false;
        page.show("camera");
      })
      .catch(function (error) {
        var problem = t(page.cameraProblem(error));
        var instead = error && error.name === "NotAllowedError"
          ? t("Take a selfie with your phone's camera instead, or allow the camera and reload the page.")
          : t("Take a selfie with your phone's camera instead.");
        showFallback(problem + " " + instead);
      });
  }

  function setPhoto(blob) {
    photo = blob;
    if (photoUrl) { URL.revokeObjectURL(photoUrl); }
    photoUrl = URL.createObjectURL(blob);
    shot.src = photoUrl;
    page.show("preview");
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
    if (cameraWorks && page.cameraIsOpen()) {
      page.show("camera");
    } else if (cameraWorks) {
      startCamera();
    } else {
      fileInput.value = "";
      page.show("fallback");
    }
  }

  function send() {
    if (!photo) { return; }
    page.show("sending");
    var form = new FormData();
    form.append("selfie", photo, "selfie.jpg");
    page.post(postUrl, form).then(page.showResult, page.connectionLost);
  }

  takeButton.addEventListener("click", takeSelfie);
  document.getElementById("retake").addEventListener("click", retake);
  document.getElementById("send").addEventListener("click", send);
  document.getElementById("again").addEventListener("click", retake);
  document.getElementById("use-file").addEventListener("click", function () {
    showFallback(t("Take a selfie with your phone's camera."));
  });
  fileInput.addEventListener("change", function () {
    if (fileInput.files && fileInput.files[0]) { setPhoto(fileInput.files[0]); }
  });

  startCamera();
})();
