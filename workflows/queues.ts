/** OTS activities run on their own queue, whose server-side rate limit keeps the fleet under the account's limit. */
export const otsTaskQueue = (taskQueue: string): string => `${taskQueue}-ots`;
/**
 * This process's own task queue for the voice activities: only the process holding a call's media stream can
 * speak into it. Unique per process start, so a restarted process never picks up work meant for its old streams.
 */
export const voiceTaskQueue = (taskQueue: string, instance: string): string => `${taskQueue}-voice-${instance}`;
/** Whether `queue` is one of the voice queues beside `taskQueue` (a call's stream claims to be on one). */
export const isVoiceTaskQueue = (taskQueue: string, queue: string): boolean =>
  queue.startsWith(voiceTaskQueue(taskQueue, ''));
