// The dossier reader (web/templates/_reader.html): keys for its links, and zoom and
// rotation of the view without reloading the page (a reload would read the page image,
// and record the read, again). Without JavaScript every link does the same by a reload.
(function () {
  "use strict";
  var reader = document.getElementById("reader");
  var view = document.getElementById("page-view");
  if (!reader || !view) { return; }
  var zooms = reader.getAttribute("data-zooms").split(",").map(Number);
  var zoom = Number(view.getAttribute("data-zoom"));
  var rotate = Number(view.getAttribute("data-rotate"));
  var list = document.getElementById("document-list");
  if (list && window.matchMedia("(max-width: 600px)").matches) { list.open = false; }

  function withView(href) {
    var url = new URL(href, window.location.href);
    url.searchParams.set("zoom", zoom);
    url.searchParams.set("rotate", rotate);
    return url.toString();
  }

  function show() {
    reader.querySelectorAll(".reader-zoom input[name=rotate]").forEach(
      function (input) { input.value = rotate; });
    reader.querySelectorAll(".reader-turn input[name=zoom]").forEach(
      function (input) { input.value = zoom; });
    view.className = "page-view zoom-" + zoom + " turn-" + rotate;
    view.setAttribute("data-zoom", zoom);
    view.setAttribute("data-rotate", rotate);
    document.getElementById("zoom-level").textContent = zoom + "%";
    // the links keep the view, as the server writes them
    reader.querySelectorAll(".reader-turns a, ol.thumbnails a, .document-list a").forEach(
      function (a) { a.href = withView(a.href); });
    window.history.replaceState(null, "", withView(window.location.href));
  }

  function zoomBy(step) {
    var i = zooms.indexOf(zoom) + step;
    zoom = zooms[Math.min(zooms.length - 1, Math.max(0, i))];
    show();
  }

  function turn(degrees) {
    rotate = (rotate + degrees + 360) % 360;
    show();
  }

  var tools = {
    "zoom-out": function () { zoomBy(-1); },
    "zoom-in": function () { zoomBy(1); },
    "zoom-fit": function () { zoom = 100; show(); },
    "rotate-left": function () { turn(-90); },
    "rotate-right": function () { turn(90); }
  };
  Object.keys(tools).forEach(function (id) {
    var button = document.getElementById(id);
    if (button) {
      button.addEventListener("click", function (event) { event.preventDefault(); tools[id](); });
    }
  });

  var keys = {
    "ArrowLeft": "prev-page", "ArrowRight": "next-page",
    "ArrowUp": "prev-document", "PageUp": "prev-document",
    "ArrowDown": "next-document", "PageDown": "next-document"
  };
  var viewKeys = { "+": "zoom-in", "=": "zoom-in", "-": "zoom-out", "0": "zoom-fit",
                   "r": "rotate-right", "R": "rotate-left" };
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.altKey || event.metaKey || event.defaultPrevented) { return; }
    var target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) {
      return;
    }
    if (keys[event.key]) {
      var link = document.getElementById(keys[event.key]);
      if (link) { event.preventDefault(); window.location.assign(link.href); }
    } else if (viewKeys[event.key]) {
      event.preventDefault();
      tools[viewKeys[event.key]]();
    }
  });
}());
