/**
 * Pointing at a formula symbol (hover or keyboard focus) highlights what it stands for on the page.
 *
 * The link is declarative: a symbol carries `data-sym="xin"`, and whatever stands for it on screen (the cell
 * below the active one, the input row of the computation panel) carries `data-link="xin"` (a list: one element
 * may stand for several symbols). Pointing sets `<html data-hl="xin">` and marks every match with `.hl`; the
 * stylesheet draws it. Panels never need to know about each other, and a new symbol needs no new CSS rule.
 */
let current: string | null = null;

function mark(): void {
  document.querySelectorAll('.hl').forEach((node) => node.classList.remove('hl'));
  if (current === null) return;
  const name = CSS.escape(current);
  document.querySelectorAll(`[data-sym="${name}"], [data-link~="${name}"]`).forEach((n) => n.classList.add('hl'));
}

function point(sym: string | null): void {
  current = sym;
  if (sym) document.documentElement.dataset.hl = sym;
  else delete document.documentElement.dataset.hl;
  mark();
}

/** Marks the current symbol's matches again, after a panel was rebuilt (a step, a new network). */
export function refreshHighlight(): void {
  if (current !== null) mark();
}

/** Starts following the pointer and the keyboard focus. */
export function followPointer(): void {
  const pointAt = (e: Event) => {
    point((e.target as Element | null)?.closest?.<HTMLElement>('[data-sym]')?.dataset.sym ?? null);
  };
  document.addEventListener('mouseover', pointAt);
  document.addEventListener('focusin', pointAt);
  document.addEventListener('focusout', () => point(null));
}
