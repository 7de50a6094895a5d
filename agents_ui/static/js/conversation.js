// Placeholder, replaced by the conversation pane.
import {h, fill} from './dom.js';
export class ConversationPane {
  constructor(el, ctx, sidebar) { this.el = el; this.ctx = ctx; this.sidebar = sidebar; this.empty(); }
  empty() { fill(this.el, h('p', {class: 'empty'}, this.ctx.t('conv.none'))); }
  async open(id) { this.id = id; fill(this.el, h('h2', {}, this.ctx.t('inbox.conversation', {id}))); }
  async reload() {}
  apply() {}
}
