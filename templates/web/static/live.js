// Live pipeline progress on the series page: listens to /series/ID/events (Server-Sent Events) and, on each
// `pipeline` event, fetches /series/ID/pipeline/ (an HTML fragment the server escaped) and puts it in place of
// #pipeline's children. Without JavaScript the page still shows the pipeline as it was when loaded.
'use strict';
(() => {
  const section = document.querySelector('#pipeline[data-series]');
  if (!section || typeof EventSource !== 'function') return;
  const id = section.getAttribute('data-series');
  if (!/^\d+$/.test(id || '')) return;

  let busy = false;
  let again = false;
  const refresh = async () => {
    if (busy) {
      again = true; // one more fetch after this one: the newest state wins
      return;
    }
    busy = true;
    try {
      const res = await fetch(`/series/${id}/pipeline/`, { credentials: 'same-origin', headers: { accept: 'text/html' } });
      if (res.ok) {
        // DOMParser never runs scripts, and the CSP allows none inline: the fragment can only be markup.
        const doc = new DOMParser().parseFromString(await res.text(), 'text/html');
        section.replaceChildren(...Array.from(doc.body.childNodes));
        section.setAttribute('data-updated', new Date().toISOString());
      }
    } catch {
      // The network went away; the EventSource reconnects by itself and the next event fetches again.
    } finally {
      busy = false;
      if (again) {
        again = false;
        void refresh();
      }
    }
  };

  // Every event fetches, the first one too: it tells the state when the stream opened, which may be newer than the
  // page (a step may have finished in between).
  new EventSource(`/series/${id}/events`).addEventListener('pipeline', () => void refresh());
})();
