// The mesh (docs/mesh.md): what the rest of the node uses of main/core/mesh/.

export {
  endpointText,
  memberAddresses,
  type NetworkKeys,
  networkKeys,
  OVERLAY_V4_PREFIX,
  OVERLAY_V6_PREFIX,
  parseEndpointText,
} from './addresses';
export type { MeshCounters } from './core';
export type { MemberView, PathKind } from './members';
export { Mesh } from './mesh';
export type { MeshEvent, MeshOptions } from './options';
export type { MeshState } from './persistence';
export type { MemberRecord, Removal } from './records';
