/**
 * The numbers of a vector drawn as colour squares (more than 8 numbers in a grid cell, more than 16 in the
 * computation panel): pointing at it, or tabbing to it, opens a box beside it with every value, indexed. One box
 * for the whole page; vectors only carry their values (`data-values`) and a label (`data-label`).
 */
import { el, replace } from './dom.js';
import { fmt } from './vector.js';

export function followReadout(): void {
  const box = el('div', { class: 'readout', 'data-testid': 'readout', role: 'tooltip', hidden: true });
  document.body.append(box);
  let shown: HTMLElement | null = null;

  const show = (vec: HTMLElement) => {
    if (vec === shown) return;
    shown = vec;
    const values = JSON.parse(vec.dataset.values ?? '[]') as number[];
    const list = el('ol', { class: 'readout-list', start: 0 });
    values.forEach((v, j) =>
      list.append(el('li', { title: String(v) }, el('span', { class: 'readout-j' }, String(j)), fmt(v, 4))),
    );
    replace(box, el('div', { class: 'readout-title' }, `${vec.dataset.label ?? 'values'} (${values.length})`), list);
    box.hidden = false;
    // Below the vector, kept inside the window.
    const r = vec.getBoundingClientRect();
    const width = box.offsetWidth;
    box.style.left = `${Math.max(8, Math.min(window.innerWidth - width - 8, r.left)) + window.scrollX}px`;
    const below = r.bottom + 6;
    const top = below + box.offsetHeight > window.innerHeight ? r.top - box.offsetHeight - 6 : below;
    box.style.top = `${Math.max(8, top) + window.scrollY}px`;
  };
  const hide = () => {
    shown = null;
    box.hidden = true;
  };
  const follow = (e: Event) => {
    const vec = (e.target as Element | null)?.closest?.<HTMLElement>('.vec.compact');
    if (vec) show(vec);
    else hide();
  };
  document.addEventListener('mouseover', follow);
  document.addEventListener('focusin', follow);
  document.addEventListener('focusout', hide);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') hide();
  });
}
