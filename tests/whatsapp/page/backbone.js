/* Events, models and collections in the style WhatsApp Web's own (Backbone-like) ones behave:
 *
 *   obj.on("a b", fn, ctx) / obj.once(...) / obj.off("a", fn) / obj.trigger("a", ...args)
 *       several space-separated names at once; an "all" listener gets (name, ...args).
 *   model.set({k: v})   assigns every attribute first, then fires "change:k" (model, v, prev)
 *                       per changed key, then "change" (model). `model.k = v` is set({k: v}).
 *   collection.add(m) / remove(m) / get(id) / getModelsArray() / length
 *       "add" (model, collection, options) and "remove"; a model's events are re-fired on
 *       every collection holding it, with the same arguments ("change:ack" (msg, ack, prev)).
 *
 * Private to the page: the modules in modules.js build on it.
 */
(() => {
  "use strict";

  const ns = (window.__waDouble = window.__waDouble || {});
  const names = (events) => String(events).split(/\s+/).filter(Boolean);

  class Events {
    on(events, fn, context) {
      if (typeof fn !== "function") throw new TypeError("on(): the listener is not a function");
      if (!this._events) Object.defineProperty(this, "_events", { value: new Map() });
      for (const name of names(events)) {
        if (!this._events.has(name)) this._events.set(name, []);
        this._events.get(name).push({ fn, context, once: false });
      }
      return this;
    }

    once(events, fn, context) {
      this.on(events, fn, context);
      for (const name of names(events)) this._events.get(name).at(-1).once = true;
      return this;
    }

    off(events, fn, context) {
      if (!this._events) return this;
      const which = events === undefined || events === null
        ? [...this._events.keys()] : names(events);
      const gone = (l) => (!fn || l.fn === fn) && (context === undefined || l.context === context);
      for (const name of which) {
        const kept = (this._events.get(name) || []).filter((l) => !gone(l));
        if (kept.length) this._events.set(name, kept);
        else this._events.delete(name);
      }
      return this;
    }

    trigger(name, ...args) {
      if (!this._events) return this;
      this._fire(name, this._events.get(name), args);
      if (name !== "all") this._fire("all", this._events.get("all"), [name, ...args]);
      return this;
    }

    _fire(name, listeners, args) {
      if (!listeners) return;
      for (const listener of [...listeners]) {
        if (listener.once) this.off(name, listener.fn, listener.context);
        try {
          listener.fn.apply(listener.context ?? this, args);
        } catch (error) {
          console.error(`listener of "${name}" failed`, error);
        }
      }
    }
  }

  class Model extends Events {
    /* Subclasses list their attributes in `static fields`; each becomes an accessor. */
    constructor(attrs = {}) {
      super();
      Object.defineProperty(this, "_attrs", { value: {} });
      for (const key of this.constructor.fields) {
        if (key in attrs) this._attrs[key] = attrs[key];
      }
    }

    static defineFields(cls) {
      for (const key of cls.fields) {
        Object.defineProperty(cls.prototype, key, {
          get() { return this._attrs[key]; },
          set(value) { this.set({ [key]: value }); },
          enumerable: true,
        });
      }
      return cls;
    }

    get(key) {
      return this._attrs[key];
    }

    set(attrs) {
      const changed = [];
      for (const [key, value] of Object.entries(attrs)) {
        const prev = this._attrs[key];
        if (prev === value) continue;
        this._attrs[key] = value;
        changed.push([key, value, prev]);
      }
      for (const [key, value, prev] of changed) this.trigger(`change:${key}`, this, value, prev);
      if (changed.length) this.trigger("change", this);
      return this;
    }

    serialize() {
      const out = {};
      for (const key of this.constructor.fields) {
        const value = this._attrs[key];
        out[key] = value && typeof value.serialize === "function" ? value.serialize() : value;
      }
      return out;
    }

    toJSON() {
      return this.serialize();
    }
  }
  Model.fields = [];

  const keyOf = (id) => (id === null || id === undefined ? undefined
    : typeof id === "string" ? id : id._serialized ?? String(id));

  class Collection extends Events {
    constructor(modelClass, comparator) {
      super();
      this.modelClass = modelClass;
      Object.defineProperty(this, "_models", { value: [] });
      Object.defineProperty(this, "_byId", { value: new Map() });
      Object.defineProperty(this, "_comparator", { value: comparator || null });
    }

    get length() {
      return this._models.length;
    }

    get models() {
      return this._models;
    }

    get(id) {
      if (id && typeof id === "object" && id instanceof this.modelClass) return id;
      return this._byId.get(keyOf(id));
    }

    has(id) {
      return this.get(id) !== undefined;
    }

    add(models, options = {}) {
      const list = Array.isArray(models) ? models : [models];
      const added = [];
      for (let model of list) {
        if (!(model instanceof this.modelClass)) model = new this.modelClass(model);
        const key = keyOf(model.id);
        if (this._byId.has(key)) continue;
        this._byId.set(key, model);
        this._insert(model);
        model.on("all", this._forward, this);
        added.push(model);
      }
      if (!options.silent) for (const model of added) this.trigger("add", model, this, options);
      return Array.isArray(models) ? added : added[0];
    }

    remove(models, options = {}) {
      for (const model of Array.isArray(models) ? models : [models]) {
        const found = this.get(model);
        if (!found) continue;
        this._byId.delete(keyOf(found.id));
        this._models.splice(this._models.indexOf(found), 1);
        found.off("all", this._forward, this);
        if (!options.silent) this.trigger("remove", found, this, options);
      }
      return this;
    }

    getModelsArray() {
      return [...this._models];
    }

    toArray() {
      return this.getModelsArray();
    }

    at(index) {
      return this._models.at(index);
    }

    head() {
      return this._models[0];
    }

    last() {
      return this._models.at(-1);
    }

    forEach(fn) {
      this._models.forEach(fn);
    }

    filter(fn) {
      return this._models.filter(fn);
    }

    map(fn) {
      return this._models.map(fn);
    }

    serialize() {
      return this._models.map((m) => m.serialize());
    }

    _insert(model) {
      const models = this._models;
      if (!this._comparator) {
        models.push(model);
        return;
      }
      let low = 0;
      let high = models.length;
      while (low < high) {
        const mid = (low + high) >> 1;
        if (this._comparator(models[mid], model) <= 0) low = mid + 1;
        else high = mid;
      }
      models.splice(low, 0, model);
    }

    _forward(name, ...args) {
      if (name === "add" || name === "remove") return; // a nested collection's own
      this.trigger(name, ...args);
    }
  }

  Object.assign(ns, { Events, Model, Collection, keyOf });
})();
