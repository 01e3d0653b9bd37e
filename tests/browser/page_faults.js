// What a lesson page shows wrongly on a screen of its size, as a list of sentences (empty: all
// fine). Evaluated by tests/browser/test_presentation.py with page.evaluate.
//
// Text is checked node by node: every line box of a text node must lie inside the viewport and
// inside every ancestor that clips or scrolls sideways (overflow-x other than visible), and no
// block of text may be wider than its box (scrollWidth > clientWidth). Plots draw their own SVG
// text and are left out, as are screen-reader-only labels (clipped to nothing on purpose) and the
// options of a <select>.
() => {
  const vw = document.documentElement.clientWidth;
  const vh = window.innerHeight;
  const faults = [];
  const doc = document.documentElement.scrollWidth;
  if (doc > vw) faults.push(`the page is ${doc} px wide in a ${vw} px viewport`);
  const header = document.querySelector('header.topbar').getBoundingClientRect().height;
  if (header > 0.1 * vh) faults.push(`the header is ${Math.round(header)} px tall, over 10 % of ${vh} px`);

  const screenReaderOnly = (el) => {
    for (let e = el; e && e !== document.body; e = e.parentElement) {
      const cs = getComputedStyle(e);
      if (cs.clip === 'rect(0px, 0px, 0px, 0px)' || (cs.position === 'absolute' && e.clientWidth <= 1)) return true;
    }
    return false;
  };
  const clippers = (el) => {
    const out = [];
    for (let e = el.parentElement; e && e !== document.documentElement; e = e.parentElement) {
      if (getComputedStyle(e).overflowX !== 'visible') out.push(e);
    }
    return out;
  };
  const name = (el) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.className ? `.${String(el.className).split(' ').join('.')}` : ''}`;

  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!node.textContent.trim() || !el || seen.has(el)) continue;
    if (el.closest('svg, .js-plotly-plot, select, script, style, [hidden]')) continue;
    if (!el.getClientRects().length || screenReaderOnly(el)) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    const rects = [...range.getClientRects()].filter((r) => r.width > 0);
    const what = `“${node.textContent.trim().slice(0, 40)}” (${name(el)})`;
    for (const r of rects) {
      if (r.right > vw + 1 || r.left < -1) {
        faults.push(`${what} runs off the screen (${Math.round(r.left)}–${Math.round(r.right)} px)`);
        seen.add(el);
        break;
      }
      const clip = clippers(el).find((c) => {
        const b = c.getBoundingClientRect();
        return r.right > b.right + 1 || r.left < b.left - 1;
      });
      if (clip) {
        faults.push(`${what} is cut off or scrolled away in ${name(clip)}`);
        seen.add(el);
        break;
      }
    }
    if (!seen.has(el) && getComputedStyle(el).display !== 'inline' && el.clientWidth > 1 && el.scrollWidth > el.clientWidth + 1) {
      faults.push(`${what} is wider than its box (${el.scrollWidth} > ${el.clientWidth} px)`);
      seen.add(el);
    }
  }

  for (const b of document.querySelectorAll('.modebar-btn')) {
    const title = b.getAttribute('data-title') || '';
    if (/share|cloud|chart studio|edit/i.test(title)) faults.push(`a plot offers “${title}”`);
  }
  for (const gd of document.querySelectorAll('.js-plotly-plot')) {
    const ctx = gd._context;
    if (ctx && (ctx.showSendToCloud || ctx.plotlyServerURL)) faults.push(`#${gd.id} may send its chart to ${ctx.plotlyServerURL || 'the cloud'}`);
  }
  for (const rel of ['prev', 'next']) {
    if (!document.querySelector(`a[rel="${rel}"][href]`)) faults.push(`no rel=${rel} link`);
  }
  return faults.slice(0, 12);
}
