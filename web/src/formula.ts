/**
 * The formula of the chosen cell, typeset with KaTeX (bundled with its fonts), each symbol tagged so that
 * pointing at it (hover or keyboard focus) highlights what it is on screen (see highlight.ts), and the glossary
 * that names each symbol's PyTorch parameter with its shape for the current sizes.
 *
 * The three cells share their first step, the two affine parts u = x W_ih^T + b_ih and v = h W_hh^T + b_hh
 * (G*H wide, one block per gate, in PyTorch's row order), and differ only in what they make of them.
 */
import katex from 'katex';
import 'katex/dist/katex.min.css';
import type { Nonlinearity, TraceGate } from '../../src/index.js';
import { el } from './dom.js';
import type { Run } from './model.js';

export type GateName = TraceGate['name'];

/** The formula's symbols; each has a colour in the stylesheet and a meaning in the glossary. */
export type Sym =
  | 'h'
  | 'c'
  | 'xin'
  | 'hprev'
  | 'cprev'
  | 'wih'
  | 'bih'
  | 'whh'
  | 'bhh'
  | 'whr'
  | 'f'
  | 'sigma'
  | 'x0'
  | 'hbelow'
  | 'u'
  | 'v'
  | 'gates'
  | `g${GateName}`;

/** The gates of each cell in PyTorch's row order of W_ih and W_hh, and what each one does. */
export const GATES: Record<'LSTM' | 'GRU', { name: GateName; what: string }[]> = {
  LSTM: [
    { name: 'i', what: 'input gate: how much of g is written into c' },
    { name: 'f', what: 'forget gate: how much of the previous c is kept' },
    { name: 'g', what: 'cell candidate: what may be written into c' },
    { name: 'o', what: 'output gate: how much of tanh(c) reaches h' },
  ],
  GRU: [
    { name: 'r', what: 'reset gate: how much of the old state the candidate n sees' },
    { name: 'z', what: 'update gate: how much of the previous h is kept' },
    { name: 'n', what: 'new state candidate' },
  ],
};

/** TeX of `body` tagged as symbol `sym` (and linked to more, e.g. every gate to 'gates'). */
export function sym(s: Sym, body: string, link?: string): string {
  return `\\htmlData{sym=${s}${link ? `, link=${link}` : ''}}{${body}}`;
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

/** A gate's symbol: `i`, tagged as that gate and as one of the gates. */
export function gateSym(name: GateName): string {
  return sym(`g${name}`, name, 'gates');
}

/** The activation a gate applies: tanh for the LSTM's g and the GRU's n, the sigmoid for the others. */
export function gateActivation(name: GateName): string {
  return name === 'g' || name === 'n' ? '\\tanh' : sym('sigma', '\\sigma');
}

/** A gate's pre-activation in u and v: `u_i + v_i`, and the GRU's `u_n + r ⊙ v_n`. */
export function gatePre(name: GateName): string {
  return name === 'n' ? `u_n + ${gateSym('r')} \\odot v_n` : `u_${name} + v_${name}`;
}

const H_T = (d: string) => `h_{t${d}}^{(l)}`;

/** The two affine parts every cell starts from, as `[u_i u_f ...] = x W_ih^T + b_ih` rows of an aligned block. */
function partsRows(names: readonly GateName[]): string[] {
  const block = (letter: string) => `[\\,${names.map((n) => `${letter}_${n}`).join('\\;\\,')}\\,]`;
  return [
    `${sym('u', block('u'))} &= ${sym('xin', 'x_t^{(l)}')}\\, ${sym('wih', 'W_{ih}^{(l)\\top}')} + ${sym('bih', 'b_{ih}^{(l)}')}`,
    `${sym('v', block('v'))} &= ${sym('hprev', H_T('-1'))}\\, ${sym('whh', 'W_{hh}^{(l)\\top}')} + ${sym('bhh', 'b_{hh}^{(l)}')}`,
  ];
}

/** The gate row of an aligned block: `(i, f, g, o) &= (σ(u_i + v_i), ...)`, the GRU's n on its own row. */
function gateRows(names: readonly GateName[]): string[] {
  const together = names.filter((n) => n !== 'n');
  const rows = [
    `(${together.map(gateSym).join(',\\ ')}) &= \\big(${together.map((n) => `${gateActivation(n)}(${gatePre(n)})`).join(',\\ ')}\\big)`,
  ];
  if (names.includes('n')) rows.push(`${gateSym('n')} &= \\tanh(${gatePre('n')})`);
  return rows;
}

function mainFormula(run: Run): string {
  const f = run.settings.nonlinearity;
  const h = sym('h', 'h_t^{(l)}');
  if (run.cell === 'RNN') {
    return [
      `${h} = ${sym('f', fTex(f))}\\Big(`,
      `${sym('xin', 'x_t^{(l)}')}\\, ${sym('wih', 'W_{ih}^{(l)\\top}')} + ${sym('bih', 'b_{ih}^{(l)}')}`,
      ` + ${sym('hprev', H_T('-1'))}\\, ${sym('whh', 'W_{hh}^{(l)\\top}')} + ${sym('bhh', 'b_{hh}^{(l)}')}\\Big)`,
    ].join('');
  }
  const names = GATES[run.cell].map((g) => g.name);
  const rows = [...partsRows(names), ...gateRows(names)];
  if (run.cell === 'LSTM') {
    const c = sym('c', 'c_t^{(l)}');
    const mixed = `${gateSym('o')} \\odot \\tanh(${c})`;
    rows.push(
      `${c} &= ${gateSym('f')} \\odot ${sym('cprev', 'c_{t-1}^{(l)}')} + ${gateSym('i')} \\odot ${gateSym('g')}`,
      `${h} &= ${run.P < run.H ? `\\big(${mixed}\\big)\\, ${sym('whr', 'W_{hr}^{(l)\\top}')}` : mixed}`,
    );
  } else {
    rows.push(
      `${h} &= (1 - ${gateSym('z')}) \\odot ${gateSym('n')} + ${gateSym('z')} \\odot ${sym('hprev', H_T('-1'))}`,
    );
  }
  return `\\begin{aligned} ${rows.join(' \\\\ ')} \\end{aligned}`;
}

function inputFormula(D: number): string {
  const below = D === 2 ? '\\big[\\overrightarrow{h}_t^{(l-1)} ;\\, \\overleftarrow{h}_t^{(l-1)}\\big]' : 'h_t^{(l-1)}';
  return `${sym('xin', 'x_t^{(l)}')} = \\begin{cases} ${sym('x0', 'x_t')} & l = 0 \\\\ ${sym('hbelow', below)} & l = 1, \\dots, K-1 \\end{cases}`;
}

function reverseFormula(run: Run): string {
  const back = (v: string) => `\\overleftarrow{${v}}`;
  if (run.cell === 'RNN') {
    return `${back('h')}_t^{(l)} = ${fTex(run.settings.nonlinearity)}\\big(x_t^{(l)} ${back('W')}_{ih}^{(l)\\top} + ${back('b')}_{ih}^{(l)} + ${sym('hprev', `${back('h')}_{t+1}^{(l)}`)} ${back('W')}_{hh}^{(l)\\top} + ${back('b')}_{hh}^{(l)}\\big)`;
  }
  const lstm = run.cell === 'LSTM';
  const prev = [sym('hprev', `${back('h')}_{t+1}^{(l)}`), lstm ? sym('cprev', `${back('c')}_{t+1}^{(l)}`) : ''];
  return `${back('h')}_t^{(l)}${lstm ? `,\\ ${back('c')}_t^{(l)}` : ''} = \\text{the same cell}\\big(x_t^{(l)},\\ ${prev.filter(Boolean).join(',\\ ')}\\big)\\ \\text{with the \\texttt{\\_reverse} weights}`;
}

/** Makes each typeset symbol a keyboard stop with a name, so focus can do what hover does. */
function focusable(root: HTMLElement, names: Partial<Record<Sym, string>>): void {
  root.querySelectorAll<HTMLElement>('[data-sym]').forEach((node) => {
    node.tabIndex = 0;
    node.setAttribute('role', 'button');
    node.setAttribute('aria-label', names[node.dataset.sym as Sym] ?? 'symbol');
  });
}

/** `weight_ih_l0`, `weight_ih_l0, weight_ih_l1` or `weight_ih_l0 … weight_ih_l4`: the layers' own names. */
export function layerNames(kind: string, from: number, to: number): string {
  if (from === to) return `${kind}_l${from}`;
  return `${kind}_l${from}${to === from + 1 ? ', ' : ' \u2026 '}${kind}_l${to}`;
}

interface GlossaryEntry {
  sym: Sym;
  tex: string;
  text: string;
}

function glossary(run: Run): GlossaryEntry[] {
  const { cell, I, H, P, G, D, K, settings } = run;
  const rows = G * H;
  const gates = cell === 'RNN' ? [] : GATES[cell].map((g) => g.name);
  const order = gates.length ? `; rows ${gates.join(', ')} (${H} each)` : '';
  const reverse = D === 2 ? ' (and _reverse)' : '';
  const shaped = (kind: string, first: string, above: string) =>
    K > 1 && first !== above
      ? `${kind}_l0: ${first}; ${layerNames(kind, 1, K - 1)}: ${above}${reverse}`
      : `${layerNames(kind, 0, K - 1)}: ${first}${reverse}`;
  const entries: GlossaryEntry[] = [
    {
      sym: 'h',
      tex: 'h_t^{(l)}',
      text:
        cell === 'LSTM'
          ? `layer l's output at step t: the amber cell's h row (${D * P} numbers)`
          : `layer l at step t: the amber cell (${D * P} numbers)`,
    },
  ];
  if (cell === 'LSTM') {
    entries.push({
      sym: 'c',
      tex: 'c_t^{(l)}',
      text: `its cell state: the c row (${D * H} numbers), never read by another layer`,
    });
  }
  entries.push(
    { sym: 'xin', tex: 'x_t^{(l)}', text: 'what layer l reads: the green cell below' },
    {
      sym: 'hprev',
      tex: 'h_{t-1}^{(l)}',
      text: `its previous state: the violet cell${D === 2 ? ' beside' : ' to the left'}`,
    },
  );
  if (cell === 'LSTM')
    entries.push({ sym: 'cprev', tex: 'c_{t-1}^{(l)}', text: 'its previous cell state, from the same violet cell' });
  if (cell === 'RNN') {
    entries.push({ sym: 'f', tex: fTex(settings.nonlinearity), text: `the nonlinearity, '${settings.nonlinearity}'` });
  } else {
    entries.push(
      {
        sym: 'gates',
        tex: gates.join(',\\,'),
        text: `the gates (${H} numbers each): ${GATES[cell].map((g) => g.what.split(':')[0]?.replace(/ gate$/, '')).join(', ')}`,
      },
      { sym: 'sigma', tex: '\\sigma', text: 'the sigmoid: a gate between 0 and 1' },
    );
  }
  entries.push(
    {
      sym: 'wih',
      tex: 'W_{ih}^{(l)}',
      text: `${shaped('weight_ih', `(${rows}, ${I})`, `(${rows}, ${D * P})`)}${order}`,
    },
    { sym: 'bih', tex: 'b_{ih}^{(l)}', text: shaped('bias_ih', `(${rows})`, `(${rows})`) },
    { sym: 'whh', tex: 'W_{hh}^{(l)}', text: `${shaped('weight_hh', `(${rows}, ${P})`, `(${rows}, ${P})`)}${order}` },
    { sym: 'bhh', tex: 'b_{hh}^{(l)}', text: shaped('bias_hh', `(${rows})`, `(${rows})`) },
  );
  if (cell === 'LSTM' && P < H) {
    entries.push({
      sym: 'whr',
      tex: 'W_{hr}^{(l)}',
      text: `${shaped('weight_hr', `(${P}, ${H})`, `(${P}, ${H})`)}: proj_size = ${P} makes h ${P} wide, c stays ${H}`,
    });
  }
  return entries;
}

/** The formula card's content for a run: the typeset formulas, and the glossary's items. */
export function formulaPanel(run: Run): { formulas: HTMLElement; glossary: HTMLElement[] } {
  const entries = glossary(run);
  const names: Partial<Record<Sym, string>> = Object.fromEntries(entries.map((e) => [e.sym, e.text]));
  names.x0 = 'x_t, the input at step t: the bottom row';
  names.hbelow = 'the layer below at the same step: the cell under the highlighted one';
  names.u = 'the input part of every gate: x W_ih^T + b_ih';
  names.v = 'the hidden part of every gate: h W_hh^T + b_hh';
  for (const cell of ['LSTM', 'GRU'] as const)
    for (const g of GATES[cell]) names[`g${g.name}`] = `${g.name}, the ${g.what}`;
  const note =
    run.cell === 'LSTM'
      ? 'Each layer has its own weights and its own two states, h and c; only h goes up to the next layer, and only layer 0 reads '
      : 'Each layer has its own weights and its own state; only layer 0 reads ';
  const formulas = el(
    'div',
    { class: run.cell === 'RNN' ? 'formulas' : 'formulas gated', 'data-testid': 'formula' },
    tex(mainFormula(run), true),
    tex(inputFormula(run.D), true),
    run.D === 2 ? tex(reverseFormula(run), true) : null,
    el('p', { class: 'formula-note' }, note, tex('x_t'), '. Point at a symbol, or tab to it, to see it on the page.'),
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
