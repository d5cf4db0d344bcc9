/**
 * The formula, typeset with KaTeX (bundled with its fonts), each symbol tagged so that pointing at it (hover or
 * keyboard focus) highlights what it is on screen.
 *
 * The link is declarative: a symbol carries `data-sym="xin"`, and whatever stands for it on screen (the cell
 * below the active one, the input row of the computation panel) carries `data-link="xin"`. Pointing sets
 * `<html data-hl="xin">` and the stylesheet does the rest, so panels never need to know about each other.
 */
import katex from 'katex';
import 'katex/dist/katex.min.css';
import type { Nonlinearity } from '../../src/index.js';
import { el } from './dom.js';
import type { Run } from './model.js';

/** The formula's symbols; each has a colour in the stylesheet and a meaning in the glossary. */
export type Sym = 'h' | 'xin' | 'hprev' | 'wih' | 'bih' | 'whh' | 'bhh' | 'f' | 'x0' | 'hbelow';

/** TeX of `body` tagged as symbol `sym`. */
export function sym(s: Sym, body: string): string {
  return `\\htmlData{sym=${s}}{${body}}`;
}

/** Renders TeX into a span. Only \htmlData is trusted; the sources are this file's own strings and numbers. */
export function tex(source: string, display = false): HTMLElement {
  const span = el('span', { class: display ? 'tex tex-display' : 'tex' });
  katex.render(source, span, {
    displayMode: display,
    throwOnError: true,
    strict: 'ignore',
    output: 'htmlAndMathml',
    trust: (context) => context.command === '\\htmlData',
  });
  return span;
}

export function fTex(f: Nonlinearity): string {
  return f === 'tanh' ? '\\tanh' : '\\operatorname{ReLU}';
}

function mainFormula(f: Nonlinearity): string {
  return [
    `${sym('h', 'h_t^{(l)}')} = ${sym('f', fTex(f))}\\Big(`,
    `${sym('xin', 'x_t^{(l)}')}\\, ${sym('wih', 'W_{ih}^{(l)\\top}')} + ${sym('bih', 'b_{ih}^{(l)}')}`,
    ` + ${sym('hprev', 'h_{t-1}^{(l)}')}\\, ${sym('whh', 'W_{hh}^{(l)\\top}')} + ${sym('bhh', 'b_{hh}^{(l)}')}\\Big)`,
  ].join('');
}

function inputFormula(D: number): string {
  const below = D === 2 ? '\\big[\\overrightarrow{h}_t^{(l-1)} ;\\, \\overleftarrow{h}_t^{(l-1)}\\big]' : 'h_t^{(l-1)}';
  return `${sym('xin', 'x_t^{(l)}')} = \\begin{cases} ${sym('x0', 'x_t')} & l = 0 \\\\ ${sym('hbelow', below)} & l = 1, \\dots, K-1 \\end{cases}`;
}

function reverseFormula(f: Nonlinearity): string {
  return `\\overleftarrow{h}_t^{(l)} = ${fTex(f)}\\big(x_t^{(l)} \\overleftarrow{W}_{ih}^{(l)\\top} + \\overleftarrow{b}_{ih}^{(l)} + ${sym('hprev', '\\overleftarrow{h}_{t+1}^{(l)}')} \\overleftarrow{W}_{hh}^{(l)\\top} + \\overleftarrow{b}_{hh}^{(l)}\\big)`;
}

/** Makes each typeset symbol a keyboard stop with a name, so focus can do what hover does. */
function focusable(root: HTMLElement, names: Record<Sym, string>): void {
  root.querySelectorAll<HTMLElement>('[data-sym]').forEach((node) => {
    node.tabIndex = 0;
    node.setAttribute('role', 'button');
    node.setAttribute('aria-label', names[node.dataset.sym as Sym] ?? 'symbol');
  });
}

interface GlossaryEntry {
  sym: Sym;
  tex: string;
  text: string;
}

function glossary(run: Run): GlossaryEntry[] {
  const { I, H, D, K, settings } = run;
  const wih = K > 1 ? `(${H}, ${I}), above (${H}, ${D * H})` : `(${H}, ${I})`;
  return [
    { sym: 'h', tex: 'h_t^{(l)}', text: `layer l at step t: the amber cell (${D * H} numbers)` },
    { sym: 'xin', tex: 'x_t^{(l)}', text: 'what layer l reads: the green cell below' },
    {
      sym: 'hprev',
      tex: 'h_{t-1}^{(l)}',
      text: `its previous state: the violet cell${D === 2 ? ' beside' : ' to the left'}`,
    },
    { sym: 'f', tex: fTex(settings.nonlinearity), text: `the nonlinearity, '${settings.nonlinearity}'` },
    { sym: 'wih', tex: 'W_{ih}^{(l)}', text: `weight_ih_l{l}: ${wih}` },
    { sym: 'bih', tex: 'b_{ih}^{(l)}', text: `bias_ih_l{l}: (${H})` },
    { sym: 'whh', tex: 'W_{hh}^{(l)}', text: `weight_hh_l{l}: (${H}, ${H})` },
    { sym: 'bhh', tex: 'b_{hh}^{(l)}', text: `bias_hh_l{l}: (${H})` },
  ];
}

/** The formula card's content for a run: the typeset formulas, and the glossary's items. */
export function formulaPanel(run: Run): { formulas: HTMLElement; glossary: HTMLElement[] } {
  const f = run.settings.nonlinearity;
  const entries = glossary(run);
  const names = Object.fromEntries(entries.map((e) => [e.sym, e.text])) as Record<Sym, string>;
  names.x0 = 'x_t, the input at step t: the bottom row';
  names.hbelow = 'the layer below at the same step: the cell under the highlighted one';
  const formulas = el(
    'div',
    { class: 'formulas', 'data-testid': 'formula' },
    tex(mainFormula(f), true),
    tex(inputFormula(run.D), true),
    run.D === 2 ? tex(reverseFormula(f), true) : null,
    el(
      'p',
      { class: 'formula-note' },
      'Each layer has its own weights and its own state; only layer 0 reads ',
      tex('x_t'),
      '. Point at a symbol, or tab to it, to see it on the page.',
    ),
  );
  focusable(formulas, names);
  const items = entries.map((e) =>
    el(
      'li',
      {},
      el(
        'button',
        { type: 'button', class: `gloss sym-${e.sym}`, 'data-sym': e.sym, 'aria-label': `${e.tex}: ${e.text}` },
        tex(e.tex),
        el('span', { class: 'gloss-text' }, e.text),
      ),
    ),
  );
  return { formulas, glossary: items };
}
