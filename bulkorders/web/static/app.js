// The little the pages need: follow a job's progress (server-sent events), check all rows.
(function () {
  "use strict";
  var job = document.getElementById("job");
  if (job && job.dataset.finished === "no" && window.EventSource) {
    var source = new EventSource(job.dataset.events);
    source.onmessage = function (event) {
      var s = JSON.parse(event.data);
      document.getElementById("label").textContent = s.label || "Starting";
      document.getElementById("count").textContent = s.done + " of " + s.total;
      var bar = document.getElementById("bar");
      bar.max = s.total || 1; bar.value = s.done;
      document.getElementById("info").textContent = s.info;
      var notes = document.getElementById("notes");
      s.notes.forEach(function (text) {
        var pre = document.createElement("pre"); pre.className = "note"; pre.textContent = text; notes.appendChild(pre);
      });
      var stop = document.getElementById("stop");
      if (stop && s.stopping) { stop.disabled = true; stop.textContent = "Stopping…"; }
      if (s.finished) { source.close(); window.location.reload(); }
    };
  }
  var all = document.getElementById("check-all");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll('input[name="row"]').forEach(function (box) { box.checked = all.checked; });
    });
  }
})();
