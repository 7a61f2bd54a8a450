// The upload page: send the form with XMLHttpRequest (fetch cannot report upload progress),
// show the bytes sent, then follow the job's status until it ends.
(function () {
  "use strict";
  var form = document.getElementById("upload");
  if (!form) { return; }
  var root = form.getAttribute("data-root") || "/";
  var box = document.querySelector(".progress");
  var bar = document.getElementById("sent");
  var sentText = document.getElementById("sent-text");
  var job = document.getElementById("job");

  function say(text, kind) {
    job.textContent = text;
    job.className = kind || "";
  }

  function follow(statusUrl, started) {
    var poll = new XMLHttpRequest();
    poll.open("GET", statusUrl);
    poll.responseType = "json";
    poll.onload = function () {
      var answer = poll.response || {};
      if (poll.status !== 200) {
        say("Could not read the job's status: " + (answer.detail || poll.status), "error");
        return;
      }
      if (answer.status === "success") {
        say("", "ok");
        var link = document.createElement("a");
        link.href = root + "ui/assets/" + encodeURIComponent(answer.asset_id);
        link.textContent = answer.asset_id;
        job.append("Uploaded: ", link, " (" + answer.reason + ")");
        return;
      }
      if (answer.status === "queued" || answer.status === "processing") {
        say("Job " + answer.upload_id + ": " + answer.status + "…");
        setTimeout(function () { follow(statusUrl, started); }, Math.min(2000, 200 + (Date.now() - started) / 10));
        return;
      }
      say("The upload failed (" + answer.reason + "): " + answer.status, "error");
    };
    poll.onerror = function () { say("The server did not answer; the job may still be running.", "error"); };
    poll.send();
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var data = new FormData();
    var file = form.elements.file.files[0];
    if (!file) { say("Choose a ZIP bundle first.", "error"); return; }
    data.append("file", file, file.name);
    var query = [];
    if (form.elements.bucket && form.elements.bucket.value) { query.push("bucket=" + encodeURIComponent(form.elements.bucket.value)); }
    if (form.elements.services && form.elements.services.value) { query.push("services=" + encodeURIComponent(form.elements.services.value)); }
    var request = new XMLHttpRequest();
    request.open("POST", root + "zip/upload" + (query.length ? "?" + query.join("&") : ""));
    request.responseType = "json";
    box.hidden = false;
    bar.value = 0;
    request.upload.onprogress = function (progress) {
      if (progress.lengthComputable) {
        var percent = Math.round((progress.loaded / progress.total) * 100);
        bar.value = percent;
        bar.textContent = percent + " %";
        sentText.textContent = percent + " % of " + (progress.total / 1048576).toFixed(1) + " MiB";
      }
    };
    request.onload = function () {
      var answer = request.response || {};
      if (request.status === 202) {
        bar.value = 100;
        sentText.textContent = "100 % sent";
        say("Job " + answer.upload_id + ": queued…");
        follow(root + "zip/status/" + encodeURIComponent(answer.upload_id), Date.now());
      } else {
        say("Refused (" + (answer.code || request.status) + "): " + (answer.detail || ""), "error");
      }
    };
    request.onerror = function () { say("The upload was cut off before the server answered.", "error"); };
    say("Sending " + file.name + "…");
    request.send(data);
  });
})();
