// Every protocol constant of the WireGuard-compatible transport lives here (names follow the
// WireGuard paper, section 6, and wireguard-go's device/constants.go). Times are milliseconds.

export const CONSTRUCTION = 'Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s';
export const IDENTIFIER = 'WireGuard v1 zx2c4 Jason@zx2c4.com';
export const LABEL_MAC1 = 'mac1----';
export const LABEL_COOKIE = 'cookie--';

// Message types (first byte; the next three bytes are zero).
export const MSG_INITIATION = 1;
export const MSG_RESPONSE = 2;
export const MSG_COOKIE_REPLY = 3;
export const MSG_TRANSPORT = 4;
/** PeerMesh discovery messages (mesh/wire.ts, mesh/messenger.ts); a type WireGuard does not use, so stock peers ignore it. */
export const MSG_MESH = 0x50;
/** A WireGuard message wrapped for a relay: type, 3 zero bytes, destination public key, message. */
export const MSG_RELAY_TO = 0x51;
/** A relayed WireGuard message as the relay delivers it: type, 3 zero bytes, source key, message. */
export const MSG_RELAY_FROM = 0x52;
/** A join request with an invitation, and its answer (invites.ts). */
export const MSG_JOIN = 0x53;
export const MSG_MESH_LAST = 0x53;
export const RELAY_HEADER_SIZE = 36;

// Message sizes in bytes.
export const INITIATION_SIZE = 148;
export const RESPONSE_SIZE = 92;
export const COOKIE_REPLY_SIZE = 64;
export const TRANSPORT_HEADER_SIZE = 16;
export const AEAD_TAG_SIZE = 16;
export const KEEPALIVE_SIZE = TRANSPORT_HEADER_SIZE + AEAD_TAG_SIZE; // 32: a transport message with no payload
export const KEY_SIZE = 32;
export const MAC_SIZE = 16;
export const COOKIE_NONCE_SIZE = 24;
export const TAI64N_SIZE = 12;
/** Overhead a transport message adds to an IP packet (header + tag), not counting padding. */
export const TRANSPORT_OVERHEAD = TRANSPORT_HEADER_SIZE + AEAD_TAG_SIZE;
/** Transport plaintext is zero-padded to a multiple of this. */
export const PADDING_MULTIPLE = 16;

// Timers and limits (WireGuard paper, section 6.1).
export const REKEY_AFTER_MESSAGES = 2 ** 60;
export const REJECT_AFTER_MESSAGES = 2 ** 64 - 2 ** 13 - 1;
export const REKEY_AFTER_TIME = 120_000;
export const REJECT_AFTER_TIME = 180_000;
export const REKEY_ATTEMPT_TIME = 90_000;
export const REKEY_TIMEOUT = 5_000;
export const KEEPALIVE_TIMEOUT = 10_000;
export const COOKIE_REFRESH_TIME = 120_000;
/** Retries of one handshake before giving up: REKEY_ATTEMPT_TIME / REKEY_TIMEOUT. */
export const MAX_TIMER_HANDSHAKES = REKEY_ATTEMPT_TIME / REKEY_TIMEOUT;
/** Random jitter added to each handshake retransmission (wireguard-go: up to 333 ms). */
export const REKEY_TIMEOUT_JITTER_MAX = 334;
/** A responder accepts at most one initiation per peer in this interval (50 per second). */
export const HANDSHAKE_INITIATION_RATE = 1_000 / 50;
/**
 * Peer keys whose newest initiation timestamp the device remembers beyond the peer's own lifetime
 * (idle drops, removal, restarts through the node's state file): the least recently used go first.
 */
export const INITIATION_TIMESTAMPS_MAX = 4_096;
/** Counters are JavaScript numbers: we stop (and rekey) long before 2^53. */
export const MAX_SAFE_COUNTER = Number.MAX_SAFE_INTEGER - 2 ** 13;

// Queues and load.
/** Packets queued per peer while a handshake is in progress (wireguard-go: MaxStagedPackets). */
export const MAX_STAGED_PACKETS = 128;
/** Handshake messages per second above which the node is "under load" and demands cookies (mac2). */
export const UNDER_LOAD_HANDSHAKES_PER_SECOND = 64;
/**
 * Responses to a handshake this node started that are taken without the load rules (mac2, the
 * per-source limit) and not counted as load: its own sessions started at once (a node that sends to
 * 99 members in its first second) are no flood, and an attacker on the path, who alone knows the
 * index, makes it open at most this many forged responses per initiation it sent.
 */
export const RESPONSES_PER_INITIATION = 2;
/** How long the node stays under load after the rate drops (wireguard-go: UnderLoadAfterTime). */
export const UNDER_LOAD_AFTER_TIME = 1_000;
/** Per source address handshake budget while under load: tokens per second and burst. */
export const HANDSHAKES_PER_SOURCE_PER_SECOND = 20;
export const HANDSHAKES_PER_SOURCE_BURST = 5;

// Device defaults.
export const DEFAULT_PORT = 51820;
export const DEFAULT_MTU = 1420;
/** Handshake messages are counted per window of this length (the "under load" rate). */
export const UNDER_LOAD_WINDOW = 1_000;
/** Source addresses tracked by the per-source handshake limit before the table is cleared. */
export const HANDSHAKE_SOURCES_TRACKED = 4096;
/**
 * A new endpoint restarts a handshake that had nowhere to go at most this often (endpoints that flip
 * between two relays must not restart a handshake before its answer can arrive).
 */
export const ENDPOINT_HANDSHAKE_RESTART_GAP = 1_000;
/**
 * The least time between two new initiations to a peer that HandshakeFlow.restartWaiting makes
 * (a relayed one unanswered): a responder drops a second initiation within 20 ms (WireGuard's and
 * wireguard-go's rate of one per 20 ms per peer).
 */
export const HANDSHAKE_MOVE_GAP = 25;
/**
 * An initiation sent through a relay and not answered in this long (ms) goes again, the same bytes
 * (HandshakeFlow.restartWaiting): a copy the relay did drop costs a quarter second, not the second
 * until a new initiation; a copy that was answered makes the other a replay the responder drops.
 */
export const RELAYED_INITIATION_RESEND = 250;
/** Attempts at drawing a free random session index. */
export const SESSION_INDEX_ATTEMPTS = 64;

// Sealed JSON messages (sealed.ts): type, 0, 0, version | XChaCha20 nonce | JSON | Poly1305 tag.
export const SEALED_HEADER_SIZE = 4;
export const SEALED_NONCE_SIZE = 24;
export const SEALED_TAG_SIZE = 16;
/** Version byte of mesh discovery messages and of join messages. */
export const MESH_WIRE_VERSION = 2;
export const JOIN_WIRE_VERSION = 1;

// Mesh discovery (main/core/mesh/).
/** Discovery messages whose timestamp is further than this from our wall clock are refused. */
export const MESH_CLOCK_SKEW = 120_000;
/** Hello to bootstrap addresses this often until a member answers, then every MESH_BOOTSTRAP_REFRESH. */
export const MESH_BOOTSTRAP_RETRY = 1_000;
/** The first retry of the bootstrap hellos (ms), doubling up to MESH_BOOTSTRAP_RETRY. */
export const MESH_BOOTSTRAP_FIRST_RETRY = 25;
export const MESH_BOOTSTRAP_REFRESH = 60_000;
/** Largest discovery datagram we send or accept (fits any path MTU in practice). */
export const MESH_MAX_MESSAGE = 1400;
/** Accepted discovery nonces remembered per generation (two generations). */
export const MESH_NONCE_CACHE = 4096;
/**
 * Earlier epochs' discovery keys a node keeps after the network secret changed (epochs.ts): a member
 * still on one of them is sent the current secret. Each is one more decryption per stranger's datagram.
 */
export const MESH_OLD_EPOCH_KEYS = 3;
/** A member still on an earlier epoch is sent the current secret at most this often (ms). */
export const MESH_SECRET_CATCH_UP_INTERVAL = 2_000;
/** A member with a direct path not heard under a new key is sent it again this many times (2, 4, 8 … s). */
export const MESH_SECRET_RESENDS = 6;
/** A direct path gets a hello this often (also keeps NAT mappings open; under most NATs' 30 s UDP timeout). */
export const MESH_PATH_KEEPALIVE = 20_000;
/** A direct path with nothing heard for this long is gone (probing starts again). */
export const MESH_PATH_TIMEOUT = 65_000;
/**
 * Liveness of a direct path (Tailscale's disco in spirit): it is direct only while hellos we send on
 * it are answered. While WireGuard traffic with the member moved in the last MESH_PATH_ACTIVE_FOR it
 * gets a hello every MESH_PATH_HEARTBEAT (idle: every MESH_PATH_KEEPALIVE); an unanswered one is
 * repeated every MESH_PING_RETRY, and a path whose hellos stayed unanswered for MESH_PATH_DEAD (at
 * least MESH_PATH_DEAD_PINGS of them) is dead: traffic moves to a relay at once.
 */
export const MESH_PATH_HEARTBEAT = 2_500;
export const MESH_PATH_ACTIVE_FOR = 5_000;
export const MESH_PING_RETRY = 1_000;
export const MESH_PATH_DEAD = 4_000;
export const MESH_PATH_DEAD_PINGS = 3;
/** The side of an idle pair that does not keep it alive checks its own side this often (paths.ts). */
export const MESH_PATH_VERIFY = 60_000;
/** A member is online while it answered us (hello answers, its messages, its tunnel) within this long. */
export const MESH_ONLINE_WINDOW = 30_000;
/** Probing a member without a direct path: gaps from PROBE_FAST doubling to 8 × PROBE_FAST during PROBE_FAST_FOR, then PROBE_SLOW and longer. */
export const MESH_PROBE_FAST = 500;
export const MESH_PROBE_FAST_FOR = 10_000;
export const MESH_PROBE_SLOW = 15_000;
/** A relay that got no handshake through in this long (packets waiting) is swapped for the next. */
export const MESH_RELAY_RETRY = 6_000;
/** Without a direct path after this long, traffic goes through a relay (if one is known). */
export const MESH_RELAY_AFTER = 2_000;
/**
 * Relayed frames that arrive a few ms early are held, not dropped (Relay): at a relay, frames for a
 * member it heard from but has not confirmed a path to yet (its ping there in flight), sent when
 * the path is confirmed; at a member, an initiation relayed from a member whose record has not
 * arrived yet, handled when it does. This long at most, RELAY_HOLD_FRAMES each for
 * RELAY_HOLD_MEMBERS members: the first packets of members that meet as they start do not wait for
 * a resend (RELAYED_INITIATION_RESEND).
 */
export const RELAY_HOLD_MS = 1000;
export const RELAY_HOLD_FRAMES = 4;
export const RELAY_HOLD_MEMBERS = 16;
/** The largest relay frame held (a WireGuard message of a full-MTU packet fits): larger ones are dropped. */
export const RELAY_HOLD_MAX_BYTES = 2048;
/**
 * A handshake sent through a relay and not answered in this long (ms) is sent again: the relay
 * forwards only from and to members whose paths it has confirmed, which at the start of a network,
 * or of a member, it may not have done yet (large networks too: there a relayed first handshake
 * waited WireGuard's 5 s retry).
 */
export const MESH_RELAYED_HANDSHAKE_RETRY = 1_000;
/**
 * A relayed member not heard from for this long (ms) gets a handshake through the relay, whose
 * answer keeps it online (less than MESH_ONLINE_WINDOW, so an idle member that is there never
 * shows offline).
 */
export const MESH_RELAY_CHECK = 20_000;
/** At most one digest comparison started (with any member) in this interval. */
export const MESH_DIG_GAP = 200;
/** At most one digest exchange per member in this interval. */
export const MESH_SYNC_INTERVAL = 1_000;
/** Members re-sign their record this often (so records of members gone for good age out). */
export const MESH_RECORD_REFRESH = 6 * 3600_000;
/** Records older than this (by their version time) are dropped: the member has been gone for a week. */
export const MESH_RECORD_MAX_AGE = 7 * 24 * 3600_000;
/** Endpoints in one record, routes in one record. */
export const MESH_MAX_ENDPOINTS = 6;
export const MESH_MAX_ROUTES = 16;
/** Members a network may have (records beyond are refused). */
export const MESH_MAX_MEMBERS = 4096;
/**
 * Up to this many members every member keeps a direct (or relayed) path to every other, so a peer
 * list shows everyone's state at once. Above it paths are made on demand: each member keeps paths
 * only to its anchors (MESH_RING_NEIGHBOURS on each side of it on the key ring, and
 * MESH_HOME_RELAYS relays chosen by rendezvous hashing) and to members it exchanged traffic with in
 * the last MESH_ACTIVE_IDLE; everyone can compute anyone's anchors and asks them for introductions.
 */
export const MESH_EAGER_MAX = 64;
export const MESH_RING_NEIGHBOURS = 2;
export const MESH_HOME_RELAYS = 2;
/** Devices (phones, routers: stock WireGuard) one member may serve as their gateway (devices.ts). */
export const MESH_MAX_DEVICES = 16;
export const MESH_ACTIVE_IDLE = 120_000;
/** In a large mesh, the WireGuard peer of a member idle this long is dropped (re-added on demand). */
export const MESH_PEER_IDLE_DROP = 600_000;
/** The mesh's per-member pass runs at most this often (probes are every 500 ms at the fastest). */
export const MESH_SCAN_INTERVAL = 250;
/**
 * A member that joins while another's path is still being confirmed is introduced to it when it is,
 * within this long (ms), at most this many per member (Paths.introduceNew).
 */
export const MESH_INTRO_LATER_MS = 2_000;
export const MESH_INTRO_LATER_MAX = 8;
/** A sealed hello to the LAN's broadcast address this often (local discovery). */
export const MESH_LAN_INTERVAL = 10_000;
/** Idle members of a large mesh (no path, no traffic, not an anchor) are looked at this often. */
export const MESH_IDLE_SCAN = 10_000;
/** Digest buckets (by the first 6 bits of the key). */
export const MESH_BUCKETS = 64;
/** Recomputing the anchors after records changed: at most this often. */
export const MESH_ANCHORS_REFRESH = 1_000;
/** Our home relays (published in our record) change at most this often. */
export const MESH_HOME_RELAYS_HOLD = 10_000;
/** A hello answered later than this gives no round-trip time (and the next hello measures anew). */
export const MESH_PING_TIMEOUT = 10_000;
/** Where members see us: reports this recent count (our public endpoint is where all of them agree). */
export const MESH_SEEN_WINDOW = 30_000;
/** Once members see us at different ports, we say we sit behind a symmetric NAT for this long. */
export const MESH_HARD_NAT_HOLD = 600_000;
/** The fast probe gap doubles from MESH_PROBE_FAST up to this many times it. */
export const MESH_PROBE_FAST_MAX_FACTOR = 8;
/** After the fast series the gap (from MESH_PROBE_SLOW) doubles every MESH_PROBE_SLOW_DOUBLING, up to MESH_PROBE_MAX_GAP. */
export const MESH_PROBE_SLOW_DOUBLING = 60_000;
/** The longest gap between probes, and the gap of a pair both behind symmetric NATs (hopeless). */
export const MESH_PROBE_MAX_GAP = 300_000;
/** Introductions are asked for this often while the fast probes last (then as rarely as slow probes). */
export const MESH_INTRO_FAST_GAP = 2_000;
/** An introduction makes us probe at most this often (several introducers answer one request). */
export const MESH_INTRO_PROBE_GAP = 1_000;
/** A large mesh asks any relay or bootstrap node for introductions once the anchors had this long. */
export const MESH_INTRO_ANCHORS_FIRST = 1_000;
/** Introducers asked in turn for one member (each answers both sides). */
export const MESH_INTRODUCERS = 3;
/** Extra endpoints remembered per member (where introducers see it). */
export const MESH_MAX_EXTRA_ENDPOINTS = 4;
/** LAN broadcast addresses a hello goes to. */
export const MESH_MAX_LAN_TARGETS = 8;
/**
 * Re-signing our record because of what members told us (a newer copy of our own record, an older
 * join time, where members see us): at most MESH_PEER_RESIGN_BURST at once, then one per
 * MESH_PEER_RESIGN_INTERVAL; a re-sign beyond that waits its turn. So no member can make a node sign
 * (and the whole network fetch) a new record at will.
 */
export const MESH_PEER_RESIGN_BURST = 3;
export const MESH_PEER_RESIGN_INTERVAL = 20_000;
/** Records dated further ahead of our wall clock than this are refused. */
export const MESH_RECORD_MAX_FUTURE = 24 * 3600_000;
/** Longest member name in a record, characters. */
export const MESH_MAX_NAME = 63;
/** Records (or removals) in one `recs` message at most. */
export const MESH_MAX_RECS = 16;
/**
 * Bucket listings (`sum`): an entry is the first MESH_SUM_PREFIX base64 characters of a key and its
 * version in base 36; at most MESH_SUM_ENTRIES entries a datagram (under 1,400 bytes), in at most
 * MESH_SUM_PARTS parts received (16 sent).
 */
export const MESH_SUM_PREFIX = 12;
export const MESH_SUM_ENTRIES = 40;
export const MESH_SUM_PARTS = 64;
export const MESH_SUM_PARTS_SENT = 16;
/**
 * Sub-buckets: a bucket holding more than MESH_SUB_MIN records is compared in MESH_SUB_PARTS parts
 * first (digests of MESH_SUB_DIGEST bytes), MESH_SUB_PER_MESSAGE buckets to a `sub` datagram.
 */
export const MESH_SUB_MIN = 8;
export const MESH_SUB_PARTS = 16;
export const MESH_SUB_DIGEST = 4;
export const MESH_SUB_PER_MESSAGE = 10;

// Invitations.
/** Most machines one invitation may admit (`peermesh invite --uses N`; the default is 1). */
export const INVITE_MAX_USES = 100;

/**
 * Packets for an overlay address no member owns yet (a member about to be learned of) are kept this
 * long (ms), this many at most, and sent when its record arrives (mesh core.ts hold).
 */
export const MESH_HOLD_MS = 1_000;
export const MESH_HOLD_MAX = 32;
