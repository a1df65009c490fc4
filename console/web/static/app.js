// Emmett console: the live log and the processors' refresh and lag chart.
// Plain JavaScript, no dependencies; the pages work without it (but for
// these live parts).
"use strict";
(function () {
  var base = document.body.dataset.base || "";

  function el(tag, text) {
    var e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function stamp(iso) {
    var d = new Date(iso);
    return isNaN(d) ? "-" : d.toISOString().slice(0, 19).replace("T", " ") + "Z";
  }
  function streamURL(name, from) {
    return base + "/stream?" + new URLSearchParams({ name: name, from: String(from) }).toString();
  }

  // The global log, live over Server-Sent Events.
  var log = document.getElementById("log");
  if (log && log.dataset.liveAfter !== undefined) {
    var state = document.getElementById("live-state");
    var body = log.tBodies[0];
    var source = new EventSource(base + "/api/log/live?" + new URLSearchParams({ after: log.dataset.liveAfter }).toString());
    source.onopen = function () { state.textContent = "Live: new events appear at the top."; };
    source.onerror = function () { state.textContent = "Disconnected: reconnecting…"; };
    source.onmessage = function (m) {
      var e = JSON.parse(m.data);
      var tr = el("tr");
      tr.className = "fresh";
      tr.dataset.position = e.position;
      tr.appendChild(el("td", String(e.globalPosition)));
      var td = el("td");
      var a = el("a", e.streamName + "@" + e.streamPosition);
      a.href = streamURL(e.streamName, e.streamPosition);
      td.appendChild(a);
      tr.appendChild(td);
      tr.appendChild(el("td", e.type));
      tr.appendChild(el("td", stamp(e.created)));
      body.insertBefore(tr, body.firstChild);
      while (body.rows.length > 200) body.deleteRow(body.rows.length - 1);
    };
  }

  // The processors: their state every refresh, and a chart of their lag.
  var table = document.getElementById("processors");
  if (table) {
    var every = Number(table.dataset.refresh) || 1000;
    var chart = document.getElementById("lag-chart");
    var legend = document.getElementById("lag-legend");
    var status = document.getElementById("refresh-state");
    var scale = document.getElementById("lag-scale");
    var samples = {}; // processor id -> [{t, lag}]
    var keep = 120;
    var colors = ["#0b57d0", "#b3261e", "#146c2e", "#8a5a00", "#6b3fa0", "#00796b", "#c2185b", "#455a64"];
    var ns = "http://www.w3.org/2000/svg";

    var seconds = function (s) {
      if (s === 0) return "0 s";
      if (s < 10) return s.toFixed(1) + " s";
      var t = Math.round(s), h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), r = t % 60;
      return (h ? h + "h" : "") + (h || m ? m + "m" : "") + r + "s";
    };
    var cell = function (row, field) { return row.querySelector('[data-field="' + field + '"]'); };
    var update = function (p) {
      var row = table.querySelector('tr[data-id="' + CSS.escape(p.id) + '"]');
      if (!row) return;
      var st = cell(row, "status").firstElementChild;
      st.textContent = p.status;
      st.className = "status " + p.status;
      cell(row, "instance").textContent = p.instance || "-";
      cell(row, "checkpoint").textContent = p.checkpoint || "-";
      cell(row, "lagEvents").textContent = String(p.lagEvents);
      cell(row, "lagSeconds").textContent = seconds(p.lagSeconds);
      cell(row, "updated").textContent = p.updated && p.updated.slice(0, 4) !== "0001" ? stamp(p.updated) : "-";
      cell(row, "rebuild").textContent = p.rebuild || "";
    };
    var draw = function () {
      while (chart.firstChild) chart.removeChild(chart.firstChild);
      while (legend.firstChild) legend.removeChild(legend.firstChild);
      var ids = Object.keys(samples).sort();
      var top = 1;
      ids.forEach(function (id) { samples[id].forEach(function (s) { top = Math.max(top, s.lag); }); });
      var w = 600, h = 200, pad = 8;
      scale.textContent = "Top of the chart: " + top + " events.";
      ids.forEach(function (id, i) {
        var pts = samples[id];
        var color = colors[i % colors.length];
        var line = document.createElementNS(ns, "polyline");
        line.setAttribute("fill", "none");
        line.setAttribute("stroke", color);
        line.setAttribute("stroke-width", "2");
        line.setAttribute("vector-effect", "non-scaling-stroke");
        line.setAttribute("data-id", id);
        line.setAttribute("points", pts.map(function (s, k) {
          var x = pts.length > 1 ? (w * k) / (pts.length - 1) : w;
          var y = h - pad - ((h - 2 * pad) * s.lag) / top;
          return x.toFixed(1) + "," + y.toFixed(1);
        }).join(" "));
        chart.appendChild(line);
        var li = el("li");
        var sw = el("span");
        sw.className = "swatch";
        sw.style.background = color;
        li.appendChild(sw);
        li.appendChild(document.createTextNode(id + ": " + pts[pts.length - 1].lag + " events behind"));
        legend.appendChild(li);
      });
    };
    var refresh = function () {
      fetch(base + "/api/processors", { headers: { Accept: "application/json" } })
        .then(function (r) {
          if (!r.ok) throw new Error("HTTP " + r.status);
          return r.json();
        })
        .then(function (d) {
          document.getElementById("head").textContent = d.head || "-";
          var now = Date.now();
          d.processors.forEach(function (p) {
            update(p);
            var s = samples[p.id] || (samples[p.id] = []);
            s.push({ t: now, lag: p.lagEvents });
            if (s.length > keep) s.shift();
          });
          draw();
          status.textContent = "";
        })
        .catch(function (err) { status.textContent = "Refresh failed (" + err.message + "): retrying."; })
        .finally(function () { setTimeout(refresh, every); });
    };
    refresh();
  }
})();
