// Keyboard navigation for lists: j / k move a highlight over the rows marked [data-nav], Enter or o opens the
// highlighted row's first link, / focuses the page's search box, Escape leaves it. Keys typed into a form are left
// alone.
'use strict';
(() => {
  const rows = () => Array.from(document.querySelectorAll('[data-nav]'));
  let current = -1;

  const typing = (el) =>
    el instanceof HTMLElement && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT|BUTTON)$/.test(el.tagName));

  const highlight = (index) => {
    const list = rows();
    if (!list.length) return;
    const next = Math.max(0, Math.min(list.length - 1, index));
    if (list[current]) {
      list[current].classList.remove('nav-current');
      list[current].removeAttribute('aria-current');
    }
    current = next;
    const row = list[current];
    row.classList.add('nav-current');
    row.setAttribute('aria-current', 'true');
    row.scrollIntoView({ block: 'nearest' });
  };

  const searchBox = () =>
    document.querySelector('form.filters input[type="search"], form.filters input[name="q"], input[type="search"], input[name="q"]');

  document.addEventListener('keydown', (ev) => {
    if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === 'Escape' && typing(document.activeElement)) {
      document.activeElement.blur();
      return;
    }
    if (typing(ev.target)) return;
    switch (ev.key) {
      case 'j':
        highlight(current + 1);
        break;
      case 'k':
        highlight(current < 0 ? 0 : current - 1);
        break;
      case 'Enter':
      case 'o': {
        const row = rows()[current];
        const link = row && row.querySelector('a[href]');
        if (!link) return;
        link.click();
        break;
      }
      case '/': {
        const box = searchBox();
        if (!box) return;
        box.focus();
        if (typeof box.select === 'function') box.select();
        break;
      }
      default:
        return;
    }
    ev.preventDefault();
  });
})();
