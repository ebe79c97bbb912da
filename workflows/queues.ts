/** OTS activities run on their own queue, whose server-side rate limit keeps the fleet under the account's limit. */
export const otsTaskQueue = (taskQueue: string): string => `${taskQueue}-ots`;
