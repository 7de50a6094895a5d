// Placeholder, replaced by the customer sidebar.
import {h, fill} from './dom.js';
export class Sidebar {
  constructor(el, ctx) { this.el = el; this.ctx = ctx; fill(el, h('p', {class: 'empty'}, ctx.t('customer.none'))); }
  async show() {}
  apply() {}
}
