// The upload form (templates/upload.html): files dropped on the form join the file picker's
// choice, the chosen files are listed, and the limits are checked before anything is sent
// (the server checks them again, and says the same sentence).
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  var input = document.getElementById("f-files");
  var zone = document.getElementById("drop-zone");
  var list = document.getElementById("chosen-files");
  if (!form || !input || !zone || !list) { return; }
  var maxFiles = parseInt(form.getAttribute("data-max-files"), 10);
  var maxBytes = parseInt(form.getAttribute("data-max-mb"), 10) * 1024 * 1024;

  function show() {
    list.textContent = "";
    Array.prototype.forEach.call(input.files, function (f) {
      var li = document.createElement("li");
      li.textContent = f.name + " (" + Math.max(1, Math.round(f.size / 1024)) + " KB)";
      if (f.size > maxBytes) { li.className = "too-large"; }
      list.appendChild(li);
    });
  }

  input.addEventListener("change", show);
  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (e) { e.preventDefault(); zone.classList.add("dragging"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    zone.addEventListener(name, function () { zone.classList.remove("dragging"); });
  });
  zone.addEventListener("drop", function (e) {
    e.preventDefault();
    if (!e.dataTransfer || !e.dataTransfer.files.length) { return; }
    var all = new DataTransfer();
    Array.prototype.forEach.call(input.files, function (f) { all.items.add(f); });
    Array.prototype.forEach.call(e.dataTransfer.files, function (f) { all.items.add(f); });
    input.files = all.files;
    show();
  });
  form.addEventListener("submit", function (e) {
    var tooLarge = Array.prototype.some.call(input.files, function (f) { return f.size > maxBytes; });
    if (input.files.length > maxFiles || tooLarge) {
      e.preventDefault();
      list.classList.add("field-error");
      list.scrollIntoView();
    }
  });
})();
