// Live updates for the operators' dashboard over server-sent events. Served by the app itself (no CDN);
// builds the DOM with textContent only, so nothing from the server is ever parsed as HTML.
(function () {
  "use strict";
  var words = {};
  try { words = JSON.parse(document.getElementById("words").textContent); } catch (e) { words = {}; }
  function w(key) { return words[key] || key; }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; } else { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c) { node.appendChild(c); } });
    return node;
  }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function fmtTime(ts) {
    if (!ts) { return "-"; }
    var d = new Date(ts * 1000);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }
  function fmtAge(s) {
    if (s === null || s === undefined) { return "-"; }
    s = Math.max(0, s);
    if (s < 120) { return s.toFixed(0) + " s"; }
    if (s < 7200) { return (s / 60).toFixed(0) + " min"; }
    if (s < 172800) { return (s / 3600).toFixed(1) + " h"; }
    return (s / 86400).toFixed(1) + " d";
  }
  function fmtBytes(v) {
    if (v === null || v === undefined) { return "-"; }
    var units = ["B", "KiB", "MiB", "GiB"], i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i < 2 ? v.toFixed(0) : v.toFixed(1)) + " " + units[i];
  }
  function badge(state) {
    return el("span", {"class": "badge state-" + state, "data-state": state, text: w("state." + state)});
  }
  function chips(alarms) {
    var span = document.createDocumentFragment();
    (alarms || []).forEach(function (a) {
      var label = words["alarm." + a.code] || a.code;
      span.appendChild(el("span", {"class": "chip sev-" + a.severity, "data-code": a.code,
                                   title: a.code + ": " + (a.detail || ""), text: label}));
    });
    return span;
  }
  function replaceChildren(node, children) {
    while (node.firstChild) { node.removeChild(node.firstChild); }
    children.forEach(function (c) { node.appendChild(c); });
  }
  function live(url, eventName, onData) {
    var indicator = document.getElementById("live");
    var source = new EventSource(url);
    source.addEventListener("open", function () { if (indicator) { indicator.dataset.state = "open"; } });
    source.addEventListener("error", function () { if (indicator) { indicator.dataset.state = "error"; } });
    source.addEventListener(eventName, function (msg) {
      var data;
      try { data = JSON.parse(msg.data); } catch (e) { return; }
      if (!data) { return; }
      onData(data);
      document.body.dataset.updates = String(Number(document.body.dataset.updates || "0") + 1);
    });
    window.addEventListener("beforeunload", function () { source.close(); });
  }

  function parts(p) {
    var frag = document.createDocumentFragment();
    if (!p) { return frag; }
    ["card_reader", "cameras", "printer", "disk"].forEach(function (part) {
      var h = p[part];
      if (h === "absent") { return; }
      var text = w("part." + part);
      if (part === "printer" && (p.paper === "low" || p.paper === "out")) { text += "·" + w("paper." + p.paper); }
      else if (h !== "ok") { text += "·" + w("health." + h); }
      var codes = (p.errors && p.errors[part]) || [];
      frag.appendChild(el("span", {"class": "part health-" + h, "data-part": part, "data-health": h,
                                   title: w("part." + part) + ": " + w("health." + h) +
                                          (codes.length ? " (" + codes.join(", ") + ")" : ""), text: text}));
    });
    return frag;
  }
  function renderGroups(id, groups, withDistrict) {
    var body = document.getElementById(id);
    if (!body || !groups) { return; }
    replaceChildren(body, groups.map(function (g) {
      var cells = [el("td", {text: g.name || w("district.none")})];
      if (withDistrict) { cells.push(el("td", {text: g.district || w("district.none")})); }
      ["online", "late", "offline", "total"].forEach(function (s) {
        cells.push(el("td", {"class": "num", "data-count": s, text: String(g[s] || 0)}));
      });
      cells.push(el("td", {"class": "num", text: String(g.alarms || 0)}));
      return el("tr", {"data-name": g.name}, cells);
    }));
  }
  function renderStaffCalls(calls) {
    var box = document.getElementById("staff-calls");
    var list = document.getElementById("staff-list");
    if (!box || !list || !calls) { return; }
    box.dataset.count = String(calls.length);
    var n = document.getElementById("staff-count");
    if (n) { n.textContent = String(calls.length); }
    var items = calls.map(function (c) {
      var text = w("staff.at").replace("{site}", c.site).replace("{device}", c.device_id)
        .replace("{at}", fmtTime(c.raised_at));
      return el("li", {"data-alarm": String(c.alarm_id), "class": c.acked ? "acked" : ""},
                [el("a", {href: "/alarms", text: text}), document.createTextNode(" "),
                 el("small", {text: c.detail || ""})]);
    });
    if (!items.length) { items = [el("li", {"class": "empty", text: w("staff.none")})]; }
    replaceChildren(list, items);
  }

  function renderFleet(data) {
    ["online", "late", "offline", "total"].forEach(function (s) {
      var n = document.getElementById("count-" + s);
      if (n) { n.textContent = String(data.counts[s] || 0); }
    });
    renderStaffCalls(data.staff_calls);
    renderGroups("by-site-body", data.by_site, true);
    renderGroups("by-district-body", data.by_district, false);
    var body = document.getElementById("fleet-body");
    if (!body) { return; }
    var rows = data.rows.map(function (r) {
      var link = el("a", {href: "/devices/" + encodeURIComponent(r.device_id), text: r.device_id});
      var tr = el("tr", {"data-device": r.device_id, "data-state": r.state}, [
        el("td", {}, [link]),
        el("td", {text: r.site}),
        el("td", {"class": "state"}, [badge(r.state)]),
        el("td", {"class": "num", text: r.queue_depth === null ? "-" : String(r.queue_depth)}),
        el("td", {"class": "num", text: fmtAge(r.oldest_pending_s)}),
        el("td", {"data-ts": r.last_seen || "", text: fmtTime(r.last_seen)}),
        el("td", {"class": "parts"}, [parts(r.peripherals)]),
        el("td", {"class": "alarms"}, [chips(r.alarms)])
      ]);
      return tr;
    });
    if (!rows.length) { rows = [el("tr", {"class": "empty"}, [el("td", {colspan: "8", text: w("fleet.empty")})])]; }
    replaceChildren(body, rows);
  }

  function renderDevice(data) {
    var d = data.device;
    var state = document.getElementById("device-state");
    if (state) { replaceChildren(state, [badge(d.state)]); }
    function set(id, text) { var n = document.getElementById(id); if (n) { n.textContent = text; } }
    set("f-site", d.site);
    set("f-queue", d.queue_depth === null ? "-" : String(d.queue_depth));
    set("f-oldest", fmtAge(d.oldest_pending_s));
    set("f-last-seen", fmtTime(d.last_seen));
    set("f-disk", fmtBytes(d.disk_free));
    set("f-maintenance", d.maintenance ? "✔" : "—");
    set("f-refusing", d.refusing || "—");
    var partsCell = document.getElementById("f-peripherals");
    if (partsCell) { replaceChildren(partsCell, [parts(d.peripherals)]); }
    var alarms = document.getElementById("f-alarms");
    if (alarms) {
      replaceChildren(alarms, d.alarms.length ? [chips(d.alarms)] : [document.createTextNode(w("none"))]);
    }
    var cmds = document.getElementById("commands-body");
    if (cmds) {
      replaceChildren(cmds, data.commands.map(function (c) {
        var key = {maintenance_on: "device.maintenance_on", maintenance_off: "device.maintenance_off",
                   diagnostics: "device.diagnostics"}[c.action];
        return el("tr", {"data-command": c.id}, [
          el("td", {text: fmtTime(c.at)}), el("td", {text: c.actor}), el("td", {text: key ? w(key) : c.action}),
          el("td", {}, [el("code", {text: c.id})]),
          el("td", {"class": "result", text: c.result ? JSON.stringify(c.result) : w("device.waiting")})
        ]);
      }));
    }
    var events = document.getElementById("events-body");
    if (events) {
      replaceChildren(events, data.events.map(function (e) {
        return el("tr", {}, [el("td", {text: fmtTime(e.received_at)}), el("td", {text: e.type}),
                             el("td", {}, [el("code", {text: JSON.stringify(e.meta)})])]);
      }));
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var page = document.body.dataset.page;
    if (page === "fleet") {
      live("/sse/fleet", "fleet", renderFleet);
    } else if (page === "device") {
      var id = document.getElementById("device-id").dataset.device;
      live("/sse/devices/" + encodeURIComponent(id), "device", renderDevice);
    }
  });
}());
