// bulkinvite dashboard: live updates. The page works without this script; with
// it, the parts of the page marked data-live are refreshed in place every
// data-refresh milliseconds (set by the server: fast while work is running),
// by fetching the same page again and swapping those parts in. Everything in
// them was escaped by the server's templates; nothing here builds HTML.
(function () {
  'use strict';

  var body = document.body;
  var busy = false;

  function interval() {
    var ms = parseInt(body.getAttribute('data-refresh') || '0', 10);
    return isNaN(ms) ? 0 : ms;
  }

  function schedule() {
    var ms = interval();
    if (ms > 0) {
      window.setTimeout(refresh, ms);
    }
  }

  function swap(doc) {
    var parts = document.querySelectorAll('[data-live]');
    for (var i = 0; i < parts.length; i++) {
      var fresh = doc.getElementById(parts[i].id);
      if (fresh) {
        parts[i].replaceWith(document.importNode(fresh, true));
      }
    }
    var next = doc.body ? doc.body.getAttribute('data-refresh') : null;
    body.setAttribute('data-refresh', next === null ? '0' : next);
    if (doc.title) {
      document.title = doc.title;
    }
  }

  function refresh() {
    if (busy || document.hidden) {
      schedule();
      return;
    }
    busy = true;
    fetch(window.location.href, { credentials: 'same-origin', headers: { 'Accept': 'text/html' } })
      .then(function (r) {
        // Signed out, or the session ended: stop, the next reload shows the sign-in form.
        if (r.redirected || !r.ok) {
          throw new Error('status ' + r.status);
        }
        return r.text();
      })
      .then(function (html) {
        swap(new DOMParser().parseFromString(html, 'text/html'));
        busy = false;
        schedule();
      })
      .catch(function () {
        busy = false;
        body.setAttribute('data-refresh', '0');
        body.classList.add('stale');
      });
  }

  document.addEventListener('visibilitychange', function () {
    if (!document.hidden && interval() > 0) {
      refresh();
    }
  });
  body.classList.add('js');
  schedule();
}());
