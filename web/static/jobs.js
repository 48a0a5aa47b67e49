// Background jobs (templates/_jobs.html): while a job is waiting or running, ask /api/jobs
// every two seconds and move its progress bars; when one ends, reload the page so that its
// outcome, each file's sentence and the retry button come from the server. Without
// JavaScript the page shows the same on a reload.
(function () {
  "use strict";
  var table = document.querySelector("table.jobs[data-api]");
  if (!table || !window.fetch) { return; }

  function active() {
    return table.querySelectorAll("tr[data-state='queued'], tr[data-state='running']");
  }

  function update(row, job) {
    var bar = row.querySelector(".job-progress");
    if (bar) { bar.max = job.progress.total || 1; bar.value = job.progress.done; }
    var count = row.querySelector(".job-count");
    if (count) { count.textContent = job.progress.done + "/" + job.progress.total; }
    job.files.forEach(function (f, i) {
      var item = row.querySelector("li[data-file='" + i + "'] .file-progress");
      if (item && !f.outcome) { item.max = f.pages.total || 1; item.value = f.pages.done; }
    });
  }

  function poll() {
    if (!active().length) { return; }
    fetch(table.getAttribute("data-api"), {credentials: "same-origin",
                                           headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (jobs) {
        if (!jobs) { return; }
        var ended = false;
        jobs.forEach(function (job) {
          var row = document.getElementById("job-" + job.id);
          if (!row) { return; }
          var was = row.getAttribute("data-state");
          if ((was === "queued" || was === "running") && (job.state === "done" || job.state === "failed")) {
            ended = true;
          }
          if (job.state === "running" && was === "queued") { row.setAttribute("data-state", "running"); }
          update(row, job);
        });
        if (ended) { window.location.reload(); } else { window.setTimeout(poll, 2000); }
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 2000);
})();
