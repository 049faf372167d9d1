/** @faultline/detector: under construction. */
export {};
