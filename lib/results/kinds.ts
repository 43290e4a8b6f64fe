// The kinds of result document connlab writes, each with its version: every document names its own in
// `kind`. On their own, so the command line can name them without loading what fills the documents.
export const LOAD_KIND = 'connlab/load@1';
export const CAPACITY_KIND = 'connlab/capacity@1';
export const HTTP_CLIENT_KIND = 'connlab/http-client@1';
export const LAB_KIND = 'connlab/lab@1';
export const CHECK_KIND = 'connlab/check@1';
