// Keyboard shortcuts for the daily moves, listed behind "?".
import {h} from './dom.js';

const SHORTCUTS = [
  ['j', 'keys.next'], ['k', 'keys.prev'], ['Enter', 'keys.open'], ['r', 'keys.reply'], ['n', 'keys.note'],
  ['e', 'keys.resolve'], ['a', 'keys.assign'], ['s', 'keys.snooze'], ['/', 'keys.search'], ['?', 'keys.help_key'],
];

const CONTROLS = 'a[href], button, summary, [role="button"], [role="tab"], [role="option"], [role="menuitem"]';

function typing(target) {
  return target instanceof HTMLElement && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName));
}

export function installKeys(shell) {
  const {t} = shell.ctx;
  const dialog = h('dialog', {class: 'help', 'aria-labelledby': 'help-title'},
    h('h2', {id: 'help-title'}, t('keys.help')),
    h('dl', {}, SHORTCUTS.map(([key, label]) => [h('dt', {}, h('kbd', {}, key)), h('dd', {}, t(label))])),
    h('form', {method: 'dialog'}, h('button', {type: 'submit', class: 'primary'}, t('common.close'))));
  document.body.appendChild(dialog);
  shell.keys = {help: () => { if (!dialog.open) dialog.showModal(); }};

  document.addEventListener('keydown', (e) => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || typing(e.target) || dialog.open) return;
    if (!shell.workspace || shell.workspace.hidden) {
      if (e.key === '?') { e.preventDefault(); shell.keys.help(); }
      return;
    }
    const conv = shell.conversation;
    const open = conv.id != null && conv.conv;
    const actions = {
      j: () => shell.inbox.move(1),
      k: () => shell.inbox.move(-1),
      // Enter on a link or a button is theirs ("Send again", "Show images"...), not "open the row".
      Enter: () => (e.target instanceof Element && e.target.closest(CONTROLS) ? false : shell.inbox.openSelected()),
      r: () => open && conv.composer.focus('reply'),
      n: () => open && conv.composer.focus('note'),
      e: () => open && conv.conv.status !== 'resolved' && conv.setStatus('resolved'),
      a: () => open && conv.conv.assignee_id !== shell.me.id && conv.assign(shell.me.id),
      s: () => open && conv.openSnooze(),
      '/': () => shell.inbox.focusSearch(),
      '?': () => shell.keys.help(),
    };
    const act = actions[e.key];
    if (!act) return;
    if (act() !== false) e.preventDefault();
  });
}
