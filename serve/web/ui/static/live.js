// pathlens live updates. On the overview and on a target page this
// script follows GET /api/v1/events (server-sent events) and updates the
// state badges in place (and the overview's counts), instead of
// reloading the whole page: once the stream is open, the page's meta
// refresh is removed and cancelled. Every page works without it: without
// JavaScript, or when the stream cannot be opened or breaks, the page
// reloads itself as its meta refresh says. A stream that fell behind is
// told to resync: the page reloads at once.
(function () {
  'use strict';
  var meta = document.querySelector('meta[http-equiv="refresh"]');
  if (!meta || typeof EventSource === 'undefined' || !window.JSON) {
    return;
  }
  var refresh = parseInt(meta.getAttribute('content'), 10) || 30;
  var table = document.querySelector('table.targets');
  var path = location.pathname.match(/^\/targets\/([^/]+)$/);
  var stateRE = /^[a-z_]+$/;
  var url, apply;

  function setBadge(el, st) {
    if (el) {
      el.className = 'badge st-' + st;
      el.textContent = st;
    }
  }

  var reloading = null;
  function reloadSoon(ms) {
    if (reloading === null) {
      reloading = setTimeout(function () { location.reload(); }, ms);
    }
  }

  if (table) {
    // The overview: every change of state. The rows are found by the
    // name their link shows; the counts by their state class.
    var rows = {};
    var trs = table.querySelectorAll('tbody tr');
    for (var i = 0; i < trs.length; i++) {
      var a = trs[i].querySelector('td.target a');
      if (a) {
        rows[a.textContent] = trs[i];
      }
    }
    var filter = new URLSearchParams(location.search).get('state') || '';
    url = '/api/v1/events?changed=1';
    apply = function (ev) {
      if (!ev.changed) {
        return;
      }
      if (filter && (ev.state === filter || ev.from === filter)) {
        reloadSoon(1000); // a row joins or leaves the filtered list
        return;
      }
      var from = document.querySelector('ul.counts li.st-' + ev.from + ' .n');
      var to = document.querySelector('ul.counts li.st-' + ev.state + ' .n');
      if (from && to) {
        from.textContent = String(Math.max(0, parseInt(from.textContent, 10) - 1));
        to.textContent = String(parseInt(to.textContent, 10) + 1);
      } else {
        reloadSoon(1000); // a count the page does not show yet
      }
      var tr = rows[ev.name];
      if (tr) {
        setBadge(tr.querySelector('td.c-state .badge'), ev.state);
        tr.className = tr.className.replace(/(^|\s)row-\S+/g, '').trim();
        tr.classList.add('row-' + ev.state);
      }
    };
  } else if (path && document.querySelector('h1 .badge')) {
    // A target page: each of its runs.
    var name;
    try {
      name = decodeURIComponent(path[1]);
    } catch (e) {
      return;
    }
    url = '/api/v1/events?target=' + encodeURIComponent(name);
    apply = function (ev) {
      if (ev.name !== name) {
        return;
      }
      setBadge(document.querySelector('h1 .badge'), ev.state);
      var dts = document.querySelectorAll('dl.facts dt');
      for (var i = 0; i < dts.length; i++) {
        var dd = dts[i].nextElementSibling;
        if (dts[i].textContent !== 'State' || !dd) {
          continue;
        }
        var badge = dd.querySelector('.badge');
        setBadge(badge, ev.state);
        var text = badge && badge.nextSibling;
        if (ev.changed && text && text.nodeType === 3) {
          var at = new Date(ev.last_run.started_at).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
          text.nodeValue = text.nodeValue
            .replace(/^ since [^(]*\([^)]*\)/, ' since ' + at + ' (just now)')
            .replace(/ · \d+ failed runs? in a row/, '');
        }
      }
    };
  } else {
    return;
  }

  function start() {
    var fallback = setTimeout(function () { location.reload(); }, refresh * 1000);
    // Removing the element does not cancel the refresh it scheduled;
    // stopping the (finished) load does.
    meta.parentNode.removeChild(meta);
    window.stop();
    var es = new EventSource(url);
    es.onopen = function () {
      clearTimeout(fallback);
      var note = document.querySelector('footer .refresh');
      if (note) {
        note.textContent = ' · live: states update as they change, other figures as rendered';
      }
      document.body.classList.add('live');
    };
    es.onerror = function () {
      // Closed, refused (401, 503) or broken: back to reloading.
      es.close();
      document.body.classList.remove('live');
      reloadSoon(refresh * 1000);
    };
    es.addEventListener('target', function (e) {
      var ev;
      try {
        ev = JSON.parse(e.data);
      } catch (x) {
        return;
      }
      if (ev && typeof ev.name === 'string' && stateRE.test(ev.state) && stateRE.test(ev.from)) {
        apply(ev);
      }
    });
    es.addEventListener('resync', function () {
      es.close();
      reloadSoon(0);
    });
  }

  if (document.readyState === 'complete') {
    start();
  } else {
    window.addEventListener('load', start);
  }
})();
