// The mesh (docs/mesh.md): what the rest of the node uses of main/core/mesh/ (a file, not
// mesh/index.ts: a build from before the split left dist/main/core/mesh.js, which must be replaced).

export {
  endpointText,
  memberAddresses,
  type NetworkKeys,
  networkKeys,
  OVERLAY_V4_PREFIX,
  OVERLAY_V6_PREFIX,
  parseEndpointText,
} from './mesh/addresses';
export type { MeshCounters } from './mesh/core';
export type { MemberView, PathKind } from './mesh/members';
export { Mesh } from './mesh/mesh';
export type { MeshEvent, MeshOptions } from './mesh/options';
export type { MeshState } from './mesh/persistence';
export type { MemberRecord, Removal } from './mesh/records';
export { isPrivateRoute, type RouteClaim, routeRefusal, settleClaims } from './mesh/routes';
