/** The hash slot of a key (cluster-key-slot, the module ioredis itself uses; it ships no types). */
declare module 'cluster-key-slot' {
  function calculateSlot(key: string | Buffer): number;
  export default calculateSlot;
}
