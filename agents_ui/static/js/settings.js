// Admin settings (#/settings/<tab>): agents, teams, API keys, mailboxes, web chat, routing rules.
import {h, clear} from './dom.js';
import * as agents from './settings/agents.js';
import * as teams from './settings/teams.js';
import * as keys from './settings/keys.js';
import * as mailboxes from './settings/mailboxes.js';
import * as routing from './settings/routing.js';
import * as webchat from './settings/webchat.js';

const TABS = [['agents', agents], ['teams', teams], ['api-keys', keys], ['mailboxes', mailboxes],
  ['webchat', webchat], ['routing', routing]];
let page = null;

function tabOf(path) {
  const name = (path || [])[0];
  return TABS.some(([n]) => n === name) ? name : TABS[0][0];
}

export function mount(container, ctx) {
  const {t} = ctx;
  const links = TABS.map(([name]) => h('a', {href: `#/settings/${name}`, class: 'st-tab', dataset: {tab: name}},
    t(`settings.tab.${name}`)));
  const panel = h('div', {class: 'st-panel'});
  clear(container);
  container.append(h('div', {class: 'st'},
    h('h1', {}, t('settings.title')),
    h('nav', {class: 'st-tabs', 'aria-label': t('settings.tabs_label')}, ...links),
    panel));
  const show = (path) => {
    const name = tabOf(path);
    if (page.tab === name) return;
    page.tab = name;
    for (const a of links) {
      if (a.dataset.tab === name) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    clear(panel);
    if (ctx.me && ctx.me.role !== 'admin') {
      panel.append(h('p', {class: 'st-msg st-bad'}, t('settings.admins_only')));
      return;
    }
    TABS.find(([n]) => n === name)[1].render(panel, ctx);
  };
  page = {tab: null, show};
  show(ctx.path);
}

// The shell calls this when the hash changes within #/settings/...
export function route(path) {
  if (page) page.show(path);
}

export function unmount() {
  page = null;
}
