/** @faultline/agent: under construction. */
export {};
