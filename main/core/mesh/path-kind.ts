// How traffic reaches a member: straight to it, through a relaying member, or not at all (yet).
// A file of its own, importing nothing: the Control API and the renderer use this type too, and a
// type import must not pull node code (sodium, Buffer) into the renderer's type check.
export type PathKind = 'direct' | 'relayed' | 'none';
